// A vmm::Hypervisor without a VM, for unit tests of the orchestration
// (sandbox::Sandbox and Container, shim::TaskService) on the host:
//  - Start() serves the real agent (agent::AgentService in host mode,
//    opts.guest = false, as `kata-agent --listen` does) in this process on
//    AgentSocketPath(), instead of booting a guest;
//  - a child process stands in for the VMM: Pid() is a live process whose
//    exit is the VM's (the exit callback runs on a watcher thread, as
//    QEMU's does), and killing it is a VM crash;
//  - the share is mounted where the guest has it (kGuestSharedDir), so
//    containers the host shares into it start from their real rootfs.
// Select it with FakeBackend (vmm::RegisterHypervisor): under "fake" through
// SandboxConfig::hypervisor, or under "qemu" where the configuration
// decides (the shim's TaskService).
//
// Its containers and mounts are real: a test that uses it calls
// EnterPrivateHostPaths() first (PrivateHostPaths environment), so that
// whatever a test leaves lives and dies in its own mount namespace. The
// agent's reaper reaps every child of the process from the first Start()
// on (as PID 1 of a guest does): no system() or waitpid() after that.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/unique_fd.h"
#include "vmm/hypervisor.h"

namespace kata::agent {
class AgentService;
}
namespace kata::ttrpc {
class Server;
}

namespace kata::test_util {

// Failure injection: what a VMM or a guest can do wrong.
struct FakeVmOptions {
  // Non-empty: Start() fails as a VMM that rejected its configuration does:
  // this line in its log (VmmLogPath), quoted in the error.
  std::string start_error;
  // What the guest printed on its console (ConsoleLogPath), e.g. a panic.
  std::string console_text;
  // The agent socket accepts connections but nothing ever answers (a guest
  // that never got as far as its agent).
  bool agent_silent = false;
  // > 0: the VMM exits by itself (status 1) this long after Start().
  std::chrono::milliseconds die_after{0};
};

class FakeHypervisor : public vmm::Hypervisor {
 public:
  explicit FakeHypervisor(FakeVmOptions opts);
  ~FakeHypervisor() override;

  Status Start(const vmm::VmSpec& spec) override;
  Status Stop(std::chrono::milliseconds timeout) override;
  bool Running() const override;
  pid_t Pid() const override;
  std::string AgentSocketPath() const override { return agent_socket_; }
  std::string ConsoleLogPath() const override { return console_log_; }
  std::string VmmLogPath() const override { return vmm_log_; }
  Status SaveState(const std::string& path) override;
  void SetExitCallback(std::function<void(int status)> cb) override;
  vmm::MemoryGrowth GrowMemory(int from_mib, int want_mib) const override;
  Status Adopt(const vmm::VmSpec& spec, pid_t pid) override;
  // Drops the exit callback; the fake VM runs until this object is gone
  // (no other process can adopt it).
  void Release() override;

 private:
  Status FailStart();
  Status MountGuestShare();
  void UnmountGuestShare();
  Status StartVmmStandIn();
  Status ServeAgent();
  void WatchVmm();
  int ReapVmmStandIn();
  // What the VM's end takes with it: the agent's connections and the
  // guest's processes, the guest's view of the share. Idempotent.
  void TearDownGuest();

  const FakeVmOptions opts_;
  vmm::VmSpec spec_;
  std::string agent_socket_, console_log_, vmm_log_;
  pid_t vmm_pid_ = -1;
  UniqueFd vmm_pidfd_;
  UniqueFd lifeline_;  // the stand-in exits when this closes (we died)
  std::unique_ptr<agent::AgentService> agent_;
  std::unique_ptr<ttrpc::Server> server_;
  std::thread serve_thread_;
  UniqueFd silent_listener_;  // agent_silent: listening, never accepting
  bool holds_guest_share_path_ = false;  // this VM's share is the one at kGuestSharedDir
  bool share_bound_ = false;             // share_source_dir bound on itself, shared
  bool guest_share_mounted_ = false;     // and bound at kGuestSharedDir
  std::thread watcher_;
  std::mutex guest_mu_;  // serializes TearDownGuest and ServeAgent: guards what they share
  bool guest_down_ = false;
  mutable std::mutex mu_;  // guards what follows
  std::condition_variable exited_cv_;
  bool exited_ = false;
  std::function<void(int)> on_exit_;
};

// Registers FakeHypervisor as the backend `kind` while it lives; every VM
// made under that name gets the options last set.
class FakeBackend {
 public:
  explicit FakeBackend(std::string kind = "fake", FakeVmOptions opts = {});
  ~FakeBackend();
  FakeBackend(const FakeBackend&) = delete;
  FakeBackend& operator=(const FakeBackend&) = delete;
  void set_options(FakeVmOptions opts);
  int vms_made() const;

  struct Shared;

 private:
  std::string kind_;
  std::shared_ptr<Shared> shared_;
};

// Moves this process into a mount namespace of its own, with empty tmpfs
// over /run, /tmp and /var/log: the sandboxes a test makes (/run/vc/vm,
// /run/kata-containers), its temporary rootfs, the failure logs kept in
// /var/log/kata-containers and every mount are the test's alone, and go
// with its process whatever it leaves behind. Root only; before any thread
// starts (threads keep the namespace they were born in).
Status EnterPrivateHostPaths();
bool InPrivateHostPaths();

// EnterPrivateHostPaths() before the first test (a failure fails them all).
// Does nothing without root: the tests that need it skip.
class PrivateHostPaths : public ::testing::Environment {
 public:
  void SetUp() override;
};

// <dir>/rootfs: the host's static busybox as /bin/busybox and the applets a
// test runs, without starting a process (the agent's reaper would take it).
Status WriteBusyboxRootfs(const std::string& dir);

// A config.json running `args` from `rootfs` as root: namespaces of its own
// (pid, mount, ipc, uts; the network is the host's, as a guest's would be
// the VM's), /proc and a tmpfs /dev.
nlohmann::json ContainerSpec(const std::string& rootfs, const std::vector<std::string>& args);

}  // namespace kata::test_util
