// Kata's direct-assigned volumes (`kata-runtime direct-volume add`): a block
// device or disk image registered for a volume path. A container that binds
// that path gets the device as a disk the guest mounts itself (ext4, xfs),
// instead of the directory through the shared file system. Stored as Kata
// stores them: <root>/<base64url(volume path)>/mountInfo.json, with Kata's
// fields (volume_type, device, fs_type, metadata, options).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent.pb.h"
#include "common/status.h"

namespace kata::sandbox {

inline constexpr const char* kDirectVolumeRoot = "/run/kata-containers/shared/direct-volumes";

struct DirectVolume {
  std::string volume_type = "block";
  std::string device;   // a host block device or a disk image file
  std::string fs_type;  // ext4 | xfs
  std::map<std::string, std::string> metadata;
  std::vector<std::string> options;  // mount options in the guest
};

std::string DirectVolumeDir(const std::string& volume_path, const std::string& root = kDirectVolumeRoot);
// Parses and checks `mount_info_json` (the device exists and is a block
// device or a regular file; fs_type is ext4 or xfs), then records it.
Status AddDirectVolume(const std::string& volume_path, const std::string& mount_info_json,
                       const std::string& root = kDirectVolumeRoot);
Status RemoveDirectVolume(const std::string& volume_path, const std::string& root = kDirectVolumeRoot);
// The volume registered for `volume_path`, if any.
Result<std::optional<DirectVolume>> FindDirectVolume(const std::string& volume_path,
                                                     const std::string& root = kDirectVolumeRoot);

// Which running sandboxes mount a volume, as Kata keeps it: a file named by
// the sandbox's id in the volume's directory; ours holds the sandbox's
// endpoint socket (sandbox_endpoint.h), where stats and resize are asked.
// Recorded when a container mounts the volume, forgotten when the last of
// the sandbox's containers using it is deleted, or the sandbox stops.
Status RecordVolumeUser(const std::string& volume_path, const std::string& sandbox_id, const std::string& endpoint,
                        const std::string& root = kDirectVolumeRoot);
void ForgetVolumeUser(const std::string& volume_path, const std::string& sandbox_id,
                      const std::string& root = kDirectVolumeRoot);
// The endpoints of the sandboxes recorded as the volume's users.
Result<std::vector<std::string>> VolumeUserEndpoints(const std::string& volume_path,
                                                     const std::string& root = kDirectVolumeRoot);

// `kata-runtime direct-volume stats|resize`: asks the sandbox that mounts the
// volume (the first recorded one that answers). A volume nobody mounts, or
// one that is not registered, is an error saying so.
Result<grpc::VolumeStatsResponse> DirectVolumeStats(const std::string& volume_path,
                                                    const std::string& root = kDirectVolumeRoot);
Status ResizeDirectVolume(const std::string& volume_path, uint64_t bytes, const std::string& root = kDirectVolumeRoot);
// The stats as Kata's CLI prints them (its shim's JSON: numbers, unit 1 =
// bytes, 2 = inodes).
std::string VolumeStatsJson(const grpc::VolumeStatsResponse& stats);

}  // namespace kata::sandbox
