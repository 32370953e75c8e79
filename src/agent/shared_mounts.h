// Bidirectional (rshared) volumes: a mount a container makes below one must
// appear on the host too. The guest cannot make a host mount; what it can
// say is which of its mounts there show a directory of the shared file
// system (a bind of something the host shares, e.g. the container's /etc),
// and the host mounts that same directory at the same place in the volume
// (sandbox/mount_mirror.h). Mounts of guest-only file systems (a tmpfs made
// in the guest) have no host equivalent and are left out.
#pragma once

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

// The mounts in `mountinfo` (a /proc/PID/mountinfo text, paths as the
// container sees them) strictly below one of `volumes` whose file system is
// the 9p share tagged `share_tag`.
std::vector<SharedMount> SharedMountsIn(const std::string& mountinfo, const std::vector<std::string>& volumes,
                                        const std::string& share_tag = "kataShared");

}  // namespace kata::agent
