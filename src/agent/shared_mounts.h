// Bidirectional (rshared) volumes: a mount a container makes below one must
// appear on the host too. The guest cannot make a host mount; what it can
// say is which of its mounts there show a directory of the shared file
// system (a bind of something the host shares, e.g. the container's /etc),
// and the host mounts that same directory at the same place in the volume
// (sandbox/mount_mirror.h). Mounts of guest-only file systems (a tmpfs made
// in the guest) have no host equivalent and are left out.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace kata::agent {

struct SharedMount {
  std::string volume;      // the volume's destination in the container, e.g. "/data"
  std::string path;        // the mount point relative to it, e.g. "sub/dir"
  std::string share_path;  // its source, relative to the shared file system's root
};

// At most this many are reported per container (the host mirrors no more).
inline constexpr size_t kMaxSharedMounts = 64;

// The shared file system's mounts in the agent's namespace, by device
// ("0:21"): where each one's root is, relative to the share's root. 9p is
// one mount at `shared_mount`; virtio-fs adds one per host mount below the
// share (a rootfs, a volume: announced submounts, each its own device).
using ShareDevices = std::map<std::string, std::string>;
ShareDevices ShareDevicesIn(const std::string& agent_mountinfo, const std::string& shared_mount);

// The mounts in `mountinfo` (a /proc/PID/mountinfo text, paths as the
// container sees them) strictly below one of `volumes` whose file system is
// one of the share's (`share`), with their source in the share.
std::vector<SharedMount> SharedMountsIn(const std::string& mountinfo, const std::vector<std::string>& volumes,
                                        const ShareDevices& share);

}  // namespace kata::agent
