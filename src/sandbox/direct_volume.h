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

}  // namespace kata::sandbox
