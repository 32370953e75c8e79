// A network namespace held open by fd. The sandbox's VMM runs in the pod's
// namespace (so the tap it creates lives next to the pod's veth, and host
// hooks that enter /proc/<vmm pid>/ns/net find the pod network).
#pragma once

#include <functional>
#include <string>
#include <utility>

#include "common/status.h"
#include "common/unique_fd.h"

namespace kata::sandbox {

class NetNs {
 public:
  NetNs() = default;
  NetNs(NetNs&& o) noexcept = default;
  NetNs& operator=(NetNs&& o) noexcept = default;
  NetNs(const NetNs&) = delete;
  NetNs& operator=(const NetNs&) = delete;

  // The namespace at `path` (e.g. /run/netns/cni-..., from the OCI spec).
  static Result<NetNs> Open(const std::string& path);
  // A new, empty namespace, alive as long as this fd or a process in it.
  static Result<NetNs> CreateNew();

  bool valid() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }  // "" for CreateNew
  // The namespace's identity (nsfs device and inode); {0, 0} if unknown.
  std::pair<uint64_t, uint64_t> Identity() const;
  // True when this is the network namespace of this process or of PID 1:
  // the host's, as far as the runtime can tell. A pod never gets it.
  bool IsHost() const;
  // Runs fn on a short-lived thread that entered the namespace: setns()
  // moves only the calling thread, and the caller's threads must stay put.
  Status Run(const std::function<Status()>& fn) const;

 private:
  UniqueFd fd_;
  std::string path_;
};

}  // namespace kata::sandbox
