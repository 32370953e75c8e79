#include "agent/sandbox_namespaces.h"

#include <fcntl.h>

#include "common/guest_paths.h"
#include "common/log.h"

namespace kata::agent {
namespace {

// The types a pod shares (containerd's NamespaceMode POD): others are never
// named by the runtime's rewrite.
constexpr const char* kSharedTypes[] = {"pid", "ipc", "uts"};

}  // namespace

bool IsSandboxContainer(const oci::Spec& spec) {
  auto it = spec.annotations.find(kContainerTypeAnnotation);
  return it != spec.annotations.end() && it->second == kPodSandboxType;
}

Status SandboxNamespaces::Capture(pid_t init_pid) {
  // Whichever the sandbox container is in: its own, or (hostPID: it lists no
  // pid namespace) the guest's, which containerd then asks the others to
  // join by the same /proc/<pid>/ns/pid path.
  std::map<std::string, UniqueFd> fds;
  for (const char* type : kSharedTypes) {
    std::string path = "/proc/" + std::to_string(init_pid) + "/ns/" + type;
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError(std::string("hold the sandbox's ") + type + " namespace: open " + path);
    fds[type] = std::move(fd);
  }
  std::lock_guard<std::mutex> lock(mu_);
  fds_ = std::move(fds);
  return Status::Ok();
}

Status SandboxNamespaces::Resolve(oci::Spec& spec) const {
  if (!spec.linux_config) return Status::Ok();
  const std::string prefix = std::string(kGuestSandboxNsDir) + "/";
  std::lock_guard<std::mutex> lock(mu_);
  for (oci::Namespace& ns : spec.linux_config->namespaces) {
    if (ns.path.compare(0, prefix.size(), prefix) != 0) continue;
    std::string type = ns.path.substr(prefix.size());
    auto it = fds_.find(type);
    if (type != ns.type || it == fds_.end()) {
      return Error(Code::kFailedPrecondition,
                   "linux.namespaces: the pod's " + ns.type + " namespace (" + ns.path +
                       ") does not exist: the pod's sandbox container is gone or did not create one");
    }
    // Opened again by the launcher; the agent's fd keeps it reachable.
    ns.path = "/proc/self/fd/" + std::to_string(it->second.get());
  }
  return Status::Ok();
}

void SandboxNamespaces::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fds_.empty()) log::Info("released the pod's shared namespaces");
  fds_.clear();
}

}  // namespace kata::agent
