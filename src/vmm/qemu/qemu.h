// QEMU backend of the Hypervisor interface.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vmm/hypervisor.h"
#include "vmm/qemu/command_line.h"
#include "vmm/vmm_process.h"

namespace kata::vmm::qemu {

class Qemu : public Hypervisor {
 public:
  ~Qemu() override;
  Status Start(const VmSpec& spec) override;
  Status Stop(std::chrono::milliseconds timeout) override;
  bool Running() const override;
  pid_t Pid() const override { return proc_ ? proc_->pid() : -1; }
  std::string AgentSocketPath() const override { return paths_.agent_socket; }
  std::string ConsoleLogPath() const override { return paths_.console_log; }
  std::string VmmLogPath() const override { return qemu_log_; }
  std::string FileServerLogPath() const override { return virtiofsd_[0] ? paths_.virtiofsd_log[0] : ""; }
  void SetExitCallback(std::function<void(int status)> cb) override;
  Status SaveState(const std::string& path) override;
  Status Adopt(const VmSpec& spec, pid_t pid) override;
  MemoryGrowth GrowMemory(int from_mib, int want_mib) const override;
  void Release() override;
  // hotplug.cc
  Status HotplugDrive(const Drive& drive) override;
  Status UnplugDrive(const std::string& id, std::chrono::milliseconds timeout) override;
  Status ResizeDrive(const std::string& id, uint64_t bytes) override;

 private:
  Result<int> FreeSlot(const std::string& id) const;  // hotplug_mu_ held
  VmmLaunch LaunchOf(const std::vector<std::string>& argv, int mount_ns_fd) const;
  // virtio-fs: virtiofsd first (QEMU connects to it at start-up); its exit
  // stops the VM, whose files are gone with it.
  Status StartVirtiofsd(int mount_ns_fd);
  void OnVirtiofsdExit(int which, int status);
  bool Exited() const { return !proc_ || proc_->exited(); }
  Status StartupError(const std::string& what) const;
  // -incoming defer: loads the saved state, then runs the VM.
  Status Resume(const std::string& state_path);

  VmSpec spec_;
  RunPaths paths_;
  std::string qemu_log_;
  std::unique_ptr<VmmProcess> proc_;  // null before Start/Adopt and after Release
  std::unique_ptr<VmmProcess> virtiofsd_[2];  // with spec_.virtio_fs: the two exports (vmm/virtiofsd.h)
  std::atomic<bool> stopping_{false};
  std::function<void(int)> on_exit_;
  std::mutex hotplug_mu_;           // one QMP conversation at a time; guards slots_
  std::vector<std::string> slots_;  // the drive id in each hotplug slot, "" = free
};

}  // namespace kata::vmm::qemu
