// The VMM's host process, whoever started it: our child (dies with the
// thread that spawned it, PR_SET_PDEATHSIG), detached (the VM cache: it
// outlives us), or adopted by pid from another process. A watcher thread
// notices its exit. The watcher shares the state with this object rather
// than pointing at it, so a VMM that was killed may finish exiting (freeing
// its memory takes ~30 ms under TCG) after its owner returned and is gone.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "vmm/confinement.h"

namespace kata::vmm {

struct VmmLaunch {
  std::vector<std::string> argv;
  std::string log_path;  // stdout and stderr
  int netns_fd = -1;     // network namespace to start in (-1: ours)
  std::string name;      // for log lines, e.g. "QEMU of sandbox X"
  Confinement confinement;
  int mount_ns_fd = -1;       // mount namespace to start in (-1: ours); vmm/share_namespace.h
  std::vector<int> pass_fds;  // become the process's fds 3, 4, ...
};

class VmmProcess {
 public:
  static Result<std::unique_ptr<VmmProcess>> StartChild(const VmmLaunch& launch);
  static Result<std::unique_ptr<VmmProcess>> StartDetached(const VmmLaunch& launch);
  static Result<std::unique_ptr<VmmProcess>> Adopt(pid_t pid, const std::string& name);
  // Does not kill or wait: Kill() first to stop the VMM.
  ~VmmProcess();

  pid_t pid() const;
  bool exited() const;
  int exit_status() const;  // shell-style; -1 when it was not our child
  // Runs once, on the watcher thread, when the process exits (never after
  // Release() or once this object is gone).
  void OnExit(std::function<void(int status)> cb);
  void Kill();
  // True if it exited within `timeout`.
  bool WaitExit(std::chrono::milliseconds timeout) const;
  // Stops watching without killing (another process adopts the VMM).
  void Release();

  struct State;

 private:
  explicit VmmProcess(std::shared_ptr<State> st) : st_(std::move(st)) {}
  std::shared_ptr<State> st_;
};

}  // namespace kata::vmm
