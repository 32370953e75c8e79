// QEMU backend of the Hypervisor interface.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "vmm/hypervisor.h"
#include "vmm/qemu/command_line.h"

namespace kata::vmm::qemu {

class Qemu : public Hypervisor {
 public:
  ~Qemu() override;
  Status Start(const VmSpec& spec) override;
  Status Stop(std::chrono::milliseconds grace) override;
  bool Running() const override;
  pid_t Pid() const override { return pid_; }
  std::string AgentSocketPath() const override { return paths_.agent_socket; }
  std::string ConsoleLogPath() const override { return paths_.console_log; }
  std::string VmmLogPath() const override { return qemu_log_; }
  void SetExitCallback(std::function<void(int status)> cb) override;
  Status SaveState(const std::string& path) override;
  Status Adopt(const VmSpec& spec, pid_t pid) override;
  void Release() override;

 private:
  // Spawns QEMU and waits for it on the same thread: PR_SET_PDEATHSIG is tied
  // to the spawning thread, so it must live exactly as long as QEMU does.
  void WatchProcess(std::vector<std::string> argv);
  // QEMU with its output in qemu_log_, in spec_'s network namespace: our
  // child that dies with the calling thread, or detached.
  Result<pid_t> Spawn(const std::vector<std::string>& argv, bool detached);
  // A detached QEMU (spec.detached, or adopted) is not our child: watch it
  // through a pidfd until it exits or Release() wakes the watcher.
  Status SpawnDetached(const std::vector<std::string>& argv);
  void WatchPidfd();
  void Kill();
  Status StartupError(const std::string& what) const;
  // -incoming defer: loads the saved state, then runs the VM.
  Status Resume(const std::string& state_path);

  VmSpec spec_;
  RunPaths paths_;
  std::string qemu_log_;
  std::thread watcher_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool spawned_ = false;
  bool exited_ = false;
  int exit_status_ = 0;
  Status spawn_status_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int release_fd_ = -1;  // eventfd: Release() wakes WatchPidfd
  bool released_ = false;
  std::function<void(int)> on_exit_;
};

}  // namespace kata::vmm::qemu
