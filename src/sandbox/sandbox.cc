#include "sandbox/sandbox.h"

#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <thread>

#include "common/fs.h"
#include "common/log.h"
#include "common/process_identity.h"
#include "common/strings.h"
#include "sandbox/failure_log.h"
#include "sandbox/ownership.h"
#include "sandbox/paths.h"
#include "sandbox/vm_template.h"

namespace kata::sandbox {
namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// What to quote from a log: a guest kernel panic's reason (with the line
// before it, which often names the cause, e.g. a bad initrd) rather than the
// tail of the stack dump that follows it; otherwise the last lines.
std::string GuestFailureSummary(const std::string& log) {
  size_t panic = log.find("Kernel panic - not syncing:");
  if (panic == std::string::npos) return TailLines(log, 3);
  size_t end = log.find('\n', panic);
  std::string upto = log.substr(0, end == std::string::npos ? log.size() : end);
  return TailLines(upto, 2);
}

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

Result<std::unique_ptr<Sandbox>> Sandbox::Boot(const SandboxConfig& cfg) {
  std::unique_ptr<Sandbox> sb(new Sandbox(cfg));
  sb->cfg_.vm.id = cfg.id;
  sb->cfg_.vm.run_dir = VmRunDir(cfg.id);
  sb->share_ = Share(SharedSandboxDir(cfg.id));
  sb->cfg_.vm.shared_dir = sb->share_.exported_dir();
  sb->cfg_.vm.share_source_dir = sb->share_.source_dir();
  Status st = sb->BootSteps();
  if (!st.ok()) {
    st = sb->FailWithConsole(st);
    Status cleanup = sb->Shutdown();
    if (!cleanup.ok()) log::Warn("cleanup after failed boot of " + cfg.id + ": " + cleanup.message());
    return st.Wrap("sandbox " + cfg.id);
  }
  return sb;
}

Status Sandbox::InUseError() const {
  return Error(Code::kAlreadyExists, "sandbox id " + cfg_.id + " is in use: " + cfg_.vm.run_dir + " or " +
                                         share_.dir() + " exists (another runtime root or containerd namespace " +
                                         "runs a sandbox with this id, or one was not cleaned up: delete it first)");
}

// Exclusively: a directory that exists is another sandbox's (sandbox/ownership.h).
Status Sandbox::MakeVmDirs() {
  RETURN_IF_ERROR(fs::MkdirAll(fs::Dirname(cfg_.vm.run_dir), 0700));
  if (mkdir(cfg_.vm.run_dir.c_str(), 0700) != 0) {
    return errno == EEXIST ? InUseError() : ErrnoError("create " + cfg_.vm.run_dir);
  }
  owns_dirs_ = true;
  ASSIGN_OR_RETURN(owner_lock_, ClaimVmDir(cfg_.vm.run_dir, cfg_.owner));
  Status st = share_.Create();
  if (st.code() == Code::kAlreadyExists) {
    owns_dirs_ = false;  // the share is another sandbox's: leave it, and the run dir we made
    (void)fs::RemoveAll(cfg_.vm.run_dir);
    owner_lock_.reset();
    return InUseError();
  }
  return st;
}

Status Sandbox::BootSteps() {
  if (cfg_.id.size() > kMaxSandboxIdLength) {
    return Error(Code::kInvalidArgument, "sandbox id " + cfg_.id.substr(0, 16) + "... is " + std::to_string(cfg_.id.size()) +
                                             " characters long: the VM's sockets under " + fs::Dirname(cfg_.vm.run_dir) +
                                             "/<id>/ would exceed the unix socket path limit; use at most " +
                                             std::to_string(kMaxSandboxIdLength) + " characters");
  }
  if (fs::Exists(cfg_.vm.run_dir) || fs::Exists(share_.dir())) return InUseError();
  RETURN_IF_ERROR(CheckPodNetns());
  RETURN_IF_ERROR(CountPodNics());
  ASSIGN_OR_RETURN(times_.from_cache, TakeFromVmCache());
  if (!times_.from_cache) {
    RETURN_IF_ERROR(MakeVmDirs());
    RETURN_IF_ERROR(JoinHostCgroup());
    if (cfg_.vm.debug_console) ShareDebugShell();
    RETURN_IF_ERROR(PrepareNetwork());
    ASSIGN_OR_RETURN(times_.from_template, StartFromTemplate());
  }
  bool booted = !times_.from_template && !times_.from_cache;
  if (booted) RETURN_IF_ERROR(StartVmAndAgent());
  RETURN_IF_ERROR(RecordVmm(cfg_.vm.run_dir, hv_->Pid()));
  // A clone's guest timeline is the template's boot: only a boot has one.
  bool measured = booted && (cfg_.measure_guest_boot || log::Enabled(log::Level::kDebug));
  if (measured) {
    if (auto d = agent_->GetGuestDetails(); d.ok()) {
      times_.guest_kernel_ms = static_cast<double>(d->agent_start_boottime_ns()) / 1e6;
      times_.guest_agent_ms = static_cast<double>(d->agent_ready_boottime_ns() - d->agent_start_boottime_ns()) / 1e6;
    }
  }
  log::Info("sandbox " + cfg_.id + (times_.from_template ? " (from the VM template)" : "") +
            (times_.from_cache ? " (from the VM cache)" : "") + ": VMM up in " + std::to_string(times_.vmm_start_ms) +
            " ms, agent ready in " + std::to_string(times_.agent_ready_ms) + " ms" +
            (!measured ? "" : " (guest: kernel " + std::to_string(times_.guest_kernel_ms) + " ms, agent " +
                                std::to_string(times_.guest_agent_ms) + " ms)"));
  grpc::CreateSandboxRequest req;
  req.set_sandbox_id(cfg_.id);
  req.set_hostname(cfg_.hostname);
  req.set_shared_fs_type(cfg_.shared_fs_type);
  if (has_propagated_share()) req.set_propagated_fs_tag(kPropagatedShareTag);
  req.set_shared_fs_options(cfg_.shared_fs_options);
  req.set_host_time_ns(NowNs());
  RETURN_IF_ERROR(agent_->CreateSandbox(req));
  ServeMetrics();
  monitor_ = std::make_unique<VmMonitor>(
      cfg_.id, hv_->ConsoleLogPath(), [this](std::chrono::milliseconds timeout) { return agent_->Check(timeout).ok(); },
      [this] { (void)hv_->Stop(std::chrono::milliseconds(0)); });  // its exit is handled as a crash (WatchVmExit)
  return Status::Ok();
}

// The guest image holds only the agent: the debug console's shell is the
// host's static busybox, copied into the share (removed with it).
void Sandbox::ShareDebugShell() {
  constexpr const char* kHostBusybox = "/bin/busybox";
  auto data = fs::ReadFile(kHostBusybox);
  std::string dest = fs::JoinPath(share_.source_dir(), kDebugShell);
  Status st = data.ok() ? fs::MkdirAll(fs::Dirname(dest), 0700) : data.status();
  if (st.ok()) st = fs::WriteFileAtomic(dest, *data, 0755);
  if (!st.ok()) {
    log::Warn("sandbox " + cfg_.id + ": the debug console will have no shell (" + st.message() +
              "; apt-get install busybox-static)");
  }
}

Result<bool> Sandbox::StartFromTemplate() {
  if (cfg_.template_dir.empty()) return false;
  if (!cfg_.vm.drives.empty()) {
    log::Info("sandbox " + cfg_.id + " boots instead of starting from the VM template: it has disks");
    return false;
  }
  std::string why_not = UseVmTemplate(cfg_.template_dir, &cfg_.vm);
  if (!why_not.empty()) {
    log::Warn("sandbox " + cfg_.id + " boots instead of starting from the VM template: " + why_not);
    return false;
  }
  trying_template_ = true;
  Status st = StartVmAndAgent();
  if (st.ok()) st = FreshIdentity();
  trying_template_ = false;
  if (st.ok()) return true;
  // A template that matched its fingerprint but does not resume is a bug or
  // a damaged file; the sandbox still starts, the slow way.
  log::Warn("sandbox " + cfg_.id + ": starting from the VM template " + cfg_.template_dir +
            " failed, booting instead: " + st.message());
  DiscardVm();  // the boot reuses the run dir: QEMU replaces its sockets and logs
  return false;
}

Status Sandbox::StartVmAndAgent() {
  ASSIGN_OR_RETURN(hv_, vmm::NewHypervisor(cfg_.hypervisor));
  WatchVmExit();
  auto t0 = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(hv_->Start(cfg_.vm));
  times_.vmm_start_ms = MsSince(t0);
  ASSIGN_OR_RETURN(agent_, AgentClient::Dial(hv_->AgentSocketPath(), cfg_.agent_timeout, [this] { return hv_->Running(); }));
  RETURN_IF_ERROR(agent_->WaitReady(cfg_.agent_timeout, [this] { return hv_->Running(); }));
  times_.agent_ready_ms = MsSince(t0);
  return Status::Ok();
}

void Sandbox::WatchVmExit() {
  hv_->SetExitCallback([this](int status) {
    if (shutting_down_ || trying_template_) return;
    log::Error("VM of sandbox " + cfg_.id + " exited unexpectedly (status " + std::to_string(status) + ")");
    if (agent_) agent_->Close();  // fails every pending agent call: processes report exit
    std::function<void()> cb;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cb = on_vm_exit_;
    }
    if (cb) cb();
  });
}

Status Sandbox::FreshIdentity() {
  // The host's randomness, so no two clones continue the template's CRNG
  // stream (the guest also regenerates what it derived from it).
  std::string seed(512, '\0');
  if (getrandom(seed.data(), seed.size(), 0) != static_cast<ssize_t>(seed.size())) {
    return ErrnoError("getrandom for the guest's random seed");
  }
  RETURN_IF_ERROR(agent_->ReseedRandomDev(seed));
  // The guest clock stood still while the template waited on disk.
  return agent_->SetGuestDateTime(NowNs());
}

void Sandbox::DiscardVm() {
  shutting_down_ = true;  // its exit is not a sandbox failure
  if (agent_) agent_->Close();
  if (hv_) (void)hv_->Stop(std::chrono::milliseconds(1000));
  agent_.reset();
  hv_.reset();
  shutting_down_ = false;
  cfg_.vm.memory_file.clear();
  cfg_.vm.restore_state.clear();
  times_ = BootTimes{};
}

// Keeps the logs beyond cleanup and quotes them in the error: a VMM that
// rejected its configuration says why in its own log; a guest that failed
// (or powered off) says why on its console.
Status Sandbox::FailWithConsole(const Status& st) {
  if (!hv_) return st;
  // A VMM that rejected its configuration may still be on its way out.
  for (int i = 0; i < 50 && hv_->Running(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::string message = st.message(), quote, kept_paths;
  // virtiofsd's log last: it always says something (waiting, the VMM gone),
  // so it is quoted only when neither QEMU nor the guest said anything.
  for (const auto& [what, path] : {std::pair{"QEMU", hv_->VmmLogPath()}, {"console", hv_->ConsoleLogPath()},
                                   {"virtiofsd", hv_->FileServerLogPath()}}) {
    if (path.empty()) continue;  // no file server (9p)
    auto text = fs::ReadFile(path);
    if (!text.ok()) continue;
    // An empty console is worth naming too: the guest never got to print.
    std::string kept = KeepFailureLog(kFailedLogDir, cfg_.id + "-" + fs::Basename(path), *text);
    // The run dir goes with the sandbox: the error names the copy that stays.
    // A copy the error already names is not listed again ("(see X) (see X)").
    bool named = false;
    for (size_t at; !kept.empty() && (at = message.find(path)) != std::string::npos; named = true) {
      message.replace(at, path.size(), kept);
    }
    if (!kept.empty() && !named) kept_paths += (kept_paths.empty() ? "" : ", ") + kept;
    if (quote.empty() && !text->empty()) quote = std::string(what) + ": " + GuestFailureSummary(*text);
  }
  return Error(st.code(), message + (quote.empty() ? "" : "; " + quote) +
                              (kept_paths.empty() ? "" : " (see " + kept_paths + ")"));
}

void Sandbox::OnVmExit(std::function<void()> cb) {
  std::lock_guard<std::mutex> lock(mu_);
  on_vm_exit_ = std::move(cb);
}

void Sandbox::OnOom(std::function<void(const std::string& container_id)> cb) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_ || !agent_ || oom_poller_) return;
  oom_poller_ = std::make_unique<OomEventPoller>(*agent_, std::move(cb));
}

Status Sandbox::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return Status::Ok();
  shut_down_ = true;
  shutting_down_ = true;
  log::StepTimer timer("shut down sandbox " + cfg_.id);
  monitor_.reset();
  endpoint_.reset();
  ForgetDirectVolumes();
  port_forwarder_.reset();  // its relays use the agent and the pod namespace
  if (agent_ && hv_ && hv_->Running()) {
    Status st = agent_->DestroySandbox();
    if (!st.ok()) log::Debug("DestroySandbox: " + st.message());
  }
  if (agent_) agent_->Close();
  oom_poller_.reset();  // its long poll ended with the connection
  timer.Mark("agent");
  // Every step runs even if an earlier one failed: leave as little as
  // possible behind, and report the first failure.
  Status first;
  auto keep_first = [&first](const Status& st) {
    if (!st.ok() && first.ok()) first = st;
  };
  // Not waiting for QEMU's exit: the kernel freeing its memory is ~30 ms of
  // every teardown (and of `ctr run --rm`) that nothing here depends on; the
  // binds below are detached lazily.
  if (hv_) keep_first(hv_->Stop(std::chrono::milliseconds(0)));
  timer.Mark("VMM killed");
  keep_first(DisconnectNetwork());
  keep_first(LeaveHostCgroup());
  timer.Mark("host cgroup removed");
  // The container binds live in the VMM's mount namespace and go with it.
  // Directories another sandbox made (a clash of ids) are not ours to remove.
  if (owns_dirs_) {
    keep_first(share_.Destroy());
    keep_first(fs::RemoveAll(cfg_.vm.run_dir));
  }
  owner_lock_.reset();
  timer.Mark("directories removed");
  return first;
}

Result<CachedVm> Sandbox::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_ || !hv_ || !hv_->Running()) return Error(Code::kFailedPrecondition, "the VM of " + cfg_.id + " is not running");
  if (!cfg_.vm.detached) return Error(Code::kFailedPrecondition, "the VM of " + cfg_.id + " was not started detached");
  monitor_.reset();  // the adopter watches it
  endpoint_.reset();
  CachedVm vm{cfg_.id, hv_->Pid()};
  shut_down_ = true;  // nothing of it is ours to remove any more
  owner_lock_.reset();  // the adopter claims the directories
  if (agent_) agent_->Close();
  oom_poller_.reset();
  hv_->Release();
  return vm;
}

Sandbox::~Sandbox() {
  Status st = Shutdown();
  if (!st.ok()) log::Warn("shutting down sandbox " + cfg_.id + ": " + st.message());
}

}  // namespace kata::sandbox
