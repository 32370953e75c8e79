// Bidirectional (rshared) volumes, guest to host: a mount a container makes
// below such a volume appears on the host at the same place, as with runc.
// The guest reports its mounts there that show a directory of the share
// (agent/shared_mounts.h: a bind of something the host shares, such as the
// container's /etc); the host binds that directory in the volume itself
// (Share::MirrorOnHost), and unmounts it when the guest has, or when the
// container goes. Synced when a process of the container exits, before its
// exit is known (a `mount` run by exec is seen on the host once the exec
// returns). Mounts of guest-only file systems have no host equivalent.
#pragma once

#include <sys/types.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "sandbox/agent_client.h"
#include "sandbox/share.h"

namespace kata::sandbox {

// The guest's list is not trusted to be short: the host mirrors no more.
inline constexpr size_t kMaxMirrorsPerContainer = 64;

struct SharedVolume {
  std::string destination;  // in the container
  std::string host_source;  // in the caller's mount namespace
};

class MountMirror {
 public:
  MountMirror(AgentClient& agent, const Share& share, pid_t vmm_pid, std::string container_id,
              std::vector<SharedVolume> volumes);
  // Mirrors what the guest mounted since the last call and unmounts what it
  // unmounted. Failures are logged: a mount the host cannot mirror (a
  // symlink on the way, a path outside the volume) is skipped.
  void Sync();
  // Unmounts every mirror (the container is deleted).
  void Clear();

 private:
  AgentClient& agent_;
  const Share& share_;
  pid_t vmm_pid_;
  std::string id_;
  std::vector<SharedVolume> volumes_;
  std::mutex mu_;
  std::map<std::string, HostMirror> mirrored_;  // by volume, path and source
};

}  // namespace kata::sandbox
