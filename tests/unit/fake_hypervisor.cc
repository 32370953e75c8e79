#include "fake_hypervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#include "agent/agent_service.h"
#include "agent/reaper.h"
#include "common/fs.h"
#include "common/guest_paths.h"
#include "common/process_identity.h"
#include "common/unix_socket.h"
#include "ttrpc/server.h"
#include "wait_until.h"

namespace kata::test_util {
namespace {

constexpr int kSelfExitStatus = 1;  // FakeVmOptions::die_after
std::atomic<bool> in_private_host_paths{false};
// kGuestSharedDir is one path: one fake VM at a time has its share there.
std::atomic<bool> guest_share_taken{false};

// The agent's handler threads are detached and may still be inside it after
// the VM is gone (GetOOMEvent waits for an OOM that never comes, as it would
// in a guest): it is kept for the life of the process, and never destroyed
// at exit either (a condition variable with a waiter cannot be).
void RetireAgent(std::unique_ptr<agent::AgentService> agent) {
  static std::mutex mu;
  static auto* retired = new std::vector<std::unique_ptr<agent::AgentService>>();
  std::lock_guard<std::mutex> lock(mu);
  retired->push_back(std::move(agent));
}

// The VMM's stand-in, in the child after fork(): async-signal-safe calls
// only. It keeps no fd of ours but `lifeline`, its end of a pipe whose other
// end we hold, so it also exits when this process does (a test that crashed
// leaves no process).
[[noreturn]] void VmmStandIn(int lifeline, int die_after_ms) {
  prctl(PR_SET_NAME, "fake-vmm");
  if (lifeline > 0) close_range(0, static_cast<unsigned>(lifeline) - 1, 0);
  close_range(static_cast<unsigned>(lifeline) + 1, ~0U, 0);
  struct pollfd p = {lifeline, POLLIN, 0};
  int r;
  while ((r = poll(&p, 1, die_after_ms)) < 0 && errno == EINTR) {
  }
  _exit(r == 0 ? kSelfExitStatus : 0);
}

}  // namespace

FakeHypervisor::FakeHypervisor(FakeVmOptions opts) : opts_(std::move(opts)) {}

FakeHypervisor::~FakeHypervisor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    on_exit_ = nullptr;  // as QEMU's: never called once its owner lets go
  }
  (void)Stop(std::chrono::milliseconds(0));
  if (!watcher_.joinable()) return;
  // Destroyed by its own exit callback (a sandbox torn down on VM exit).
  if (watcher_.get_id() == std::this_thread::get_id()) {
    watcher_.detach();
  } else {
    watcher_.join();
  }
}

Status FakeHypervisor::Start(const vmm::VmSpec& spec) {
  spec_ = spec;
  // QEMU's names (vmm/qemu/command_line.h RunPaths), in the sandbox's run dir.
  agent_socket_ = fs::JoinPath(spec.run_dir, "agent.sock");
  console_log_ = fs::JoinPath(spec.run_dir, "console.log");
  vmm_log_ = fs::JoinPath(spec.run_dir, "fake-vmm.log");
  if (!opts_.start_error.empty()) return FailStart();
  RETURN_IF_ERROR(fs::WriteFileAtomic(console_log_, opts_.console_text, 0600));
  Status st = MountGuestShare();
  if (st.ok()) st = StartVmmStandIn();
  if (st.ok()) st = ServeAgent();
  if (!st.ok()) (void)Stop(std::chrono::milliseconds(1000));
  return st;
}

// As QEMU fails (qemu.cc StartupError): its complaint in its log, and the
// error quotes it and names the log.
Status FakeHypervisor::FailStart() {
  RETURN_IF_ERROR(fs::WriteFileAtomic(vmm_log_, opts_.start_error + "\n", 0600));
  return Error(Code::kInternal, "fake VMM for sandbox " + spec_.id + " exited with status 1 during start-up: " +
                                    opts_.start_error + " (see " + vmm_log_ + ")");
}

// The guest mounts the share at kGuestSharedDir (9p or virtio-fs); here a
// bind of what the host shares, made a shared mount first so that what the
// host binds below it later (a container's rootfs) appears there too.
Status FakeHypervisor::MountGuestShare() {
  if (spec_.share_source_dir.empty()) return Status::Ok();
  if (!InPrivateHostPaths()) {
    return Error(Code::kFailedPrecondition,
                 "FakeHypervisor mounts the guest's share: call test_util::EnterPrivateHostPaths() first");
  }
  if (guest_share_taken.exchange(true)) {
    return Error(Code::kAlreadyExists,
                 std::string("another fake VM of this process has its share at ") + kGuestSharedDir);
  }
  holds_guest_share_path_ = true;
  const char* src = spec_.share_source_dir.c_str();
  if (mount(src, src, nullptr, MS_BIND, nullptr) != 0) return ErrnoError("bind " + spec_.share_source_dir);
  share_bound_ = true;
  if (mount(nullptr, src, nullptr, MS_SHARED, nullptr) != 0) {
    return ErrnoError("make " + spec_.share_source_dir + " a shared mount");
  }
  RETURN_IF_ERROR(fs::MkdirAll(kGuestSharedDir, 0755));
  if (mount(src, kGuestSharedDir, nullptr, MS_BIND, nullptr) != 0) {
    return ErrnoError("bind " + spec_.share_source_dir + " at " + kGuestSharedDir);
  }
  guest_share_mounted_ = true;
  return Status::Ok();
}

// Lazily, with whatever the host still has bound below: a VM's end takes
// the guest's mounts with it.
void FakeHypervisor::UnmountGuestShare() {
  if (guest_share_mounted_ && umount2(kGuestSharedDir, MNT_DETACH) != 0) {
    ADD_FAILURE() << ErrnoError(std::string("unmount ") + kGuestSharedDir).message();
  }
  if (share_bound_ && umount2(spec_.share_source_dir.c_str(), MNT_DETACH) != 0) {
    ADD_FAILURE() << ErrnoError("unmount " + spec_.share_source_dir).message();
  }
  if (holds_guest_share_path_) guest_share_taken = false;
  share_bound_ = guest_share_mounted_ = holds_guest_share_path_ = false;
}

Status FakeHypervisor::StartVmmStandIn() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe for the fake VMM");
  int die_after_ms = opts_.die_after.count() > 0 ? static_cast<int>(opts_.die_after.count()) : -1;
  pid_t pid = fork();
  if (pid == 0) VmmStandIn(fds[0], die_after_ms);
  close(fds[0]);
  lifeline_ = UniqueFd(fds[1]);
  if (pid < 0) return ErrnoError("fork the fake VMM");
  // Before it can exit by itself (die_after) and be reaped by another.
  vmm_pidfd_ = UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!vmm_pidfd_.valid()) {
    Status st = ErrnoError("pidfd_open the fake VMM");
    kill(pid, SIGKILL);
    return st;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    vmm_pid_ = pid;
  }
  watcher_ = std::thread(&FakeHypervisor::WatchVmm, this);
  return Status::Ok();
}

// What kata-agent's main does with --listen, in this process. Under
// guest_mu_: the watcher's TearDownGuest reads what this sets, and the
// stand-in may already have died (die_after, a kill): then there is no guest
// to serve, as when QEMU exits during start-up.
Status FakeHypervisor::ServeAgent() {
  std::lock_guard<std::mutex> lock(guest_mu_);
  if (guest_down_) return Error(Code::kUnavailable, "fake VMM for sandbox " + spec_.id + " exited during start-up");
  ASSIGN_OR_RETURN(int fd, ListenUnix(agent_socket_));
  if (opts_.agent_silent) {
    silent_listener_ = UniqueFd(fd);  // connections queue in its backlog, unanswered
    return Status::Ok();
  }
  agent::Reaper::Get().Start();  // WaitProcess asks it for exit statuses
  agent::AgentOptions o;
  o.guest = false;
  o.cgroup_root = "";  // the host's cgroups are not the fake guest's to change
  o.started_boottime_ns = agent::AgentService::BoottimeNs();
  agent_ = std::make_unique<agent::AgentService>(o);
  server_ = std::make_unique<ttrpc::Server>();
  agent_->Register(*server_);
  agent_->MarkReady();
  serve_thread_ = std::thread(&ttrpc::Server::ServeListener, server_.get(), fd);
  return Status::Ok();
}

void FakeHypervisor::WatchVmm() {
  struct pollfd p = {vmm_pidfd_.get(), POLLIN, 0};  // readable once it exited
  while (poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
  int status = ReapVmmStandIn();
  TearDownGuest();
  std::function<void(int)> cb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    exited_ = true;
    cb = std::move(on_exit_);  // once
    on_exit_ = nullptr;
  }
  exited_cv_.notify_all();
  if (cb) cb(status);
}

// Its exit status, shell-style. The agent's reaper (waitpid(-1), as a
// guest's PID 1) may have reaped it first: then the status it kept.
int FakeHypervisor::ReapVmmStandIn() {
  siginfo_t si = {};
  if (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(vmm_pidfd_.get()), &si, WEXITED) == 0) {
    return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
  }
  std::optional<int> st;
  if (WaitUntil([&] { return (st = agent::Reaper::Get().Peek(vmm_pid_)).has_value(); }, std::chrono::seconds(1))) {
    return *st;
  }
  return -1;
}

void FakeHypervisor::TearDownGuest() {
  std::lock_guard<std::mutex> lock(guest_mu_);
  if (guest_down_) return;
  guest_down_ = true;
  // In the order a real VM's end shows: the binds in the VMM's namespace go
  // with it, before the host can see anything (the share is free to remove
  // once a call fails); the host's connections see EOF, so the processes
  // report the VM gone, not their own exit; the guest's processes die.
  UnmountGuestShare();
  if (server_) server_->Shutdown();
  if (serve_thread_.joinable()) serve_thread_.join();
  silent_listener_.reset();
  if (agent_) {
    (void)agent_->DestroySandbox(grpc::DestroySandboxRequest());
    RetireAgent(std::move(agent_));
  }
}

Status FakeHypervisor::Stop(std::chrono::milliseconds timeout) {
  if (vmm_pidfd_.valid()) (void)proc::PidfdSendSignal(vmm_pidfd_.get(), SIGKILL);
  // Now rather than when the watcher sees the exit: the caller removes the
  // share next, which must not be a mount point any more.
  TearDownGuest();
  std::unique_lock<std::mutex> lock(mu_);
  if (timeout.count() > 0 && vmm_pid_ > 0) exited_cv_.wait_for(lock, timeout, [this] { return exited_; });
  return Status::Ok();
}

bool FakeHypervisor::Running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return vmm_pid_ > 0 && !exited_;
}

pid_t FakeHypervisor::Pid() const {
  std::lock_guard<std::mutex> lock(mu_);
  return vmm_pid_;
}

Status FakeHypervisor::SaveState(const std::string&) {
  return Error(Code::kUnimplemented, "the fake hypervisor has no VM state to save");
}

void FakeHypervisor::SetExitCallback(std::function<void(int status)> cb) {
  std::lock_guard<std::mutex> lock(mu_);
  on_exit_ = std::move(cb);
}

vmm::MemoryGrowth FakeHypervisor::GrowMemory(int from_mib, int) const { return vmm::MemoryGrowth{{}, from_mib}; }

Status FakeHypervisor::Adopt(const vmm::VmSpec&, pid_t) {
  return Error(Code::kUnimplemented, "the fake hypervisor cannot adopt a VM");
}

void FakeHypervisor::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  on_exit_ = nullptr;
}

struct FakeBackend::Shared {
  std::mutex mu;
  FakeVmOptions opts;
  int made = 0;

  std::unique_ptr<vmm::Hypervisor> Make() {
    std::lock_guard<std::mutex> lock(mu);
    made++;
    return std::make_unique<FakeHypervisor>(opts);
  }
};

FakeBackend::FakeBackend(std::string kind, FakeVmOptions opts)
    : kind_(std::move(kind)), shared_(std::make_shared<Shared>()) {
  shared_->opts = std::move(opts);
  vmm::RegisterHypervisor(kind_, std::bind(&Shared::Make, shared_));
}

FakeBackend::~FakeBackend() { vmm::RegisterHypervisor(kind_, nullptr); }

void FakeBackend::set_options(FakeVmOptions opts) {
  std::lock_guard<std::mutex> lock(shared_->mu);
  shared_->opts = std::move(opts);
}

int FakeBackend::vms_made() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->made;
}

Status EnterPrivateHostPaths() {
  if (in_private_host_paths) return Status::Ok();
  if (unshare(CLONE_NEWNS) != 0) return ErrnoError("unshare the mount namespace");
  // Neither way: nothing mounted here reaches the host, nor the reverse.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return ErrnoError("make / private");
  for (const auto& [dir, mode] : {std::pair{"/run", "mode=0755"}, {"/tmp", "mode=1777"}, {"/var/log", "mode=0755"}}) {
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, mode) != 0) return ErrnoError(std::string("tmpfs on ") + dir);
  }
  in_private_host_paths = true;
  return Status::Ok();
}

bool InPrivateHostPaths() { return in_private_host_paths; }

void PrivateHostPaths::SetUp() {
  if (geteuid() != 0) return;
  Status st = EnterPrivateHostPaths();
  ASSERT_TRUE(st.ok()) << st.message();
}

Status WriteBusyboxRootfs(const std::string& dir) {
  std::string rootfs = dir + "/rootfs";
  for (const char* d : {"", "/bin", "/etc", "/proc", "/dev", "/sys", "/tmp"}) {
    RETURN_IF_ERROR(fs::MkdirAll(rootfs + d, 0755));
  }
  ASSIGN_OR_RETURN(std::string busybox, fs::ReadFile("/bin/busybox"));
  RETURN_IF_ERROR(fs::WriteFileAtomic(rootfs + "/bin/busybox", busybox, 0755));
  for (const char* applet : {"sh", "echo", "cat", "sleep", "true", "false", "hostname"}) {
    std::string link = rootfs + "/bin/" + applet;
    if (symlink("busybox", link.c_str()) != 0) return ErrnoError("symlink " + link);
  }
  return fs::WriteFileAtomic(rootfs + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0644);
}

nlohmann::json ContainerSpec(const std::string& rootfs, const std::vector<std::string>& args) {
  nlohmann::json ns = nlohmann::json::array();
  for (const char* type : {"pid", "mount", "ipc", "uts"}) ns.push_back({{"type", type}});
  return {
      {"ociVersion", "1.0.2"},
      {"root", {{"path", rootfs}}},
      {"process", {{"args", args}, {"env", {"PATH=/bin"}}, {"cwd", "/"}, {"user", {{"uid", 0}, {"gid", 0}}}}},
      {"hostname", "unit"},
      {"mounts",
       {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
        {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "mode=755"}}}}},
      {"linux", {{"namespaces", ns}}},
  };
}

}  // namespace kata::test_util
