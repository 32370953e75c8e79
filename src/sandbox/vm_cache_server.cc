// The VM cache server (sandbox/vm_cache.h): `kata-runtime factory init`.
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>
#include <vector>

#include "common/json_parse.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/process.h"
#include "sandbox/leftovers.h"
#include "sandbox/ownership.h"
#include "sandbox/template_fingerprint.h"
#include "sandbox/vm_cache.h"
#include "sandbox/vm_cache_warmup.h"
#include "sandbox/vm_cache_wire.h"
#include "ttrpc/socket.h"

namespace kata::sandbox {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using vmcache::kIoTimeout;
using vmcache::ReadLine;
using vmcache::WriteLine;

constexpr const char* kWarmupParent = "/run/kata-containers/vmcache";

// The server pid in a cache VM's id "vmcache-<pid>-<n>", or 0.
pid_t ServerPidOf(const std::string& vm_id) {
  constexpr std::string_view kPrefix = "vmcache-";
  if (vm_id.rfind(kPrefix, 0) != 0) return 0;
  size_t dash = vm_id.find('-', kPrefix.size());
  if (dash == std::string::npos) return 0;
  std::string pid = vm_id.substr(kPrefix.size(), dash - kPrefix.size());
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return 0;
  return static_cast<pid_t>(std::stol(pid));
}

// Idle VMs of a cache server that was killed (SIGKILL: it could not stop
// them, and a detached QEMU does not die with its parent): their QEMU, binds
// and directories, and the server's warm-up bundle.
void RemoveAbandonedCacheVms() {
  std::set<std::string> ids;
  for (const char* parent : {"/run/vc/vm", "/run/kata-containers/shared/sandboxes", kWarmupParent}) {
    DIR* d = opendir(parent);
    if (d == nullptr) continue;
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      pid_t server = parent == std::string(kWarmupParent) ? static_cast<pid_t>(std::atol(name.c_str())) : ServerPidOf(name);
      if (server <= 0 || server == getpid() || proc::LiveProcess(std::to_string(server), "kata-runtime") != 0) continue;
      if (parent == std::string(kWarmupParent)) {
        (void)fs::RemoveAll(std::string(kWarmupParent) + "/" + name);
      } else {
        ids.insert(name);
      }
    }
    closedir(d);
  }
  for (const std::string& id : ids) {
    log::Info("VM cache: removing " + id + ", left by a cache server that is gone");
    if (Status st = RemoveVmLeftovers(id, kAnyOwner); !st.ok()) log::Warn("VM cache: " + st.message());
  }
}

class CacheServer {
 public:
  explicit CacheServer(const VmCacheOptions& opts) : opts_(opts), fingerprint_(TemplateFingerprint(opts.shape.vm)) {}
  Status Run(const std::function<void()>& on_listening);

 private:
  void FillLoop();
  Result<std::unique_ptr<Sandbox>> MakeVm(const std::string& id);
  void ServeOne(int conn, bool* quit);
  json Take(const std::string& fingerprint);
  json StatusReply(const std::string& fingerprint);
  // Why a sandbox wanting a VM like `fingerprint` cannot use these; "" if it can.
  std::string Mismatch(const std::string& fingerprint) const;

  VmCacheOptions opts_;
  std::string fingerprint_;
  std::string warm_dir_;  // the warm-up container's bundle; "" = no warm-up
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Sandbox>> ready_;
  bool stopping_ = false;
  std::string last_error_;
};

Result<std::unique_ptr<Sandbox>> CacheServer::MakeVm(const std::string& id) {
  SandboxConfig cfg = opts_.shape;
  cfg.id = id;
  cfg.hostname = id;
  cfg.vm.detached = true;
  cfg.network = false;  // its NIC's tap waits in the VM's own namespace
  cfg.netns_path.clear();
  cfg.vm_cache_endpoint.clear();
  cfg.owner = "vm-cache " + opts_.endpoint;
  ASSIGN_OR_RETURN(std::unique_ptr<Sandbox> sb, Sandbox::Boot(cfg));
  if (!warm_dir_.empty()) RETURN_IF_ERROR(RunWarmupContainer(*sb, warm_dir_).Wrap("warm-up of " + id));
  return sb;
}

void CacheServer::FillLoop() {
  int seq = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (static_cast<int>(ready_.size()) >= opts_.size) {
      cv_.wait(lock);
      continue;
    }
    lock.unlock();
    std::string id = "vmcache-" + std::to_string(getpid()) + "-" + std::to_string(++seq);
    auto t0 = Clock::now();
    auto vm = MakeVm(id);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    lock.lock();
    if (vm.ok()) {
      ready_.push_back(std::move(*vm));
      last_error_.clear();
      log::Info("VM cache: " + id + " ready (booted and warmed in " + std::to_string(ms) + " ms; " +
                std::to_string(ready_.size()) + " of " + std::to_string(opts_.size) + " ready)");
      continue;
    }
    last_error_ = vm.status().message();
    log::Warn("VM cache: " + last_error_ + "; retrying in 10 s");
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return stopping_; });
  }
}

std::string CacheServer::Mismatch(const std::string& fingerprint) const {
  if (fingerprint == fingerprint_) return "";
  FingerprintCheck c = CompareFingerprint(fingerprint_, fingerprint, nullptr);
  return "the cached VMs are made differently: " + (c.reason.empty() ? "fingerprint differs" : c.reason);
}

json CacheServer::Take(const std::string& fingerprint) {
  if (std::string why = Mismatch(fingerprint); !why.empty()) return {{"error", why}};
  std::unique_ptr<Sandbox> sb;
  std::vector<std::unique_ptr<Sandbox>> dead;  // stopped and removed outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!ready_.empty() && !sb) {
      sb = std::move(ready_.front());
      ready_.pop_front();
      if (!sb->vm_running()) dead.push_back(std::move(sb));  // died while it waited
    }
    if (!sb) return {{"error", "no VM ready yet" + (last_error_.empty() ? "" : " (last failure: " + last_error_ + ")")}};
  }
  cv_.notify_all();  // make a new one
  for (auto& d : dead) log::Warn("VM cache: " + d->id() + " died while it waited; dropped");
  dead.clear();
  auto vm = sb->Release();
  if (!vm.ok()) return {{"error", vm.status().message()}};
  log::Info("VM cache: handed " + vm->id + " (pid " + std::to_string(vm->pid) + ") over");
  return {{"vm_id", vm->id}, {"pid", vm->pid}};
}

json CacheServer::StatusReply(const std::string& fingerprint) {
  std::lock_guard<std::mutex> lock(mu_);
  json r = {{"ready", ready_.size()}, {"size", opts_.size}, {"last_error", last_error_}, {"warm", !warm_dir_.empty()}};
  // Asked with the fingerprint of a configuration: would its sandboxes take these VMs?
  if (!fingerprint.empty()) r["mismatch"] = Mismatch(fingerprint);
  return r;
}

void CacheServer::ServeOne(int conn, bool* quit) {
  auto line = ReadLine(conn, kIoTimeout);
  if (!line.ok()) return;
  json req = ParseJsonBounded(*line, "VM cache request").value_or(json());
  json reply;
  std::string op = req.is_object() ? req.value("op", "") : "";
  if (op == "take") {
    reply = Take(req.value("fingerprint", ""));
  } else if (op == "status") {
    reply = StatusReply(req.value("fingerprint", ""));
  } else if (op == "quit") {
    reply = {{"ok", true}};
    *quit = true;
  } else {
    reply = {{"error", "unknown request (ops: take, status, quit)"}};
  }
  Status st = WriteLine(conn, reply.dump());
  if (!st.ok() && reply.contains("vm_id")) {
    // The taker is gone: nobody will adopt this VM.
    DiscardCachedVm(CachedVm{reply["vm_id"].get<std::string>(), reply["pid"].get<pid_t>()});
  }
}

Status CacheServer::Run(const std::function<void()>& on_listening) {
  if (AskVmCache(opts_.endpoint, {{"op", "status"}}).ok()) {
    return Error(Code::kAlreadyExists, "a VM cache already serves at " + opts_.endpoint +
                                           " (stop it with `kata-runtime factory destroy`)");
  }
  // SIGINT/SIGTERM are read from a signalfd; blocked before any thread starts,
  // so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  int sfd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (sfd < 0) return ErrnoError("signalfd");
  RemoveAbandonedCacheVms();
  RETURN_IF_ERROR(fs::MkdirAll(fs::Dirname(opts_.endpoint), 0755));
  auto lfd = ttrpc::ListenUnix(opts_.endpoint);
  if (!lfd.ok()) {
    close(sfd);
    return lfd.status().Wrap("VM cache endpoint");
  }
  if (!opts_.warmup_binary.empty()) {
    auto bundle = PrepareWarmupBundle(kWarmupParent, opts_.warmup_binary);
    if (bundle.ok()) {
      warm_dir_ = *bundle;
    } else {
      log::Warn("VM cache: cached VMs will not be warm: " + bundle.status().message());
    }
  }
  std::thread filler(&CacheServer::FillLoop, this);
  if (on_listening) on_listening();
  bool quit = false;
  while (!quit) {
    pollfd fds[2] = {{*lfd, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) break;
    int conn = accept4(*lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    ServeOne(conn, &quit);
    close(conn);
  }
  close(*lfd);
  unlink(opts_.endpoint.c_str());
  close(sfd);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  filler.join();
  ready_.clear();  // each Sandbox stops its VM and removes its directories
  if (!warm_dir_.empty()) (void)fs::RemoveAll(warm_dir_);
  log::Info("VM cache at " + opts_.endpoint + " stopped");
  return Status::Ok();
}

}  // namespace

void RemoveVmsOfDeadCaches() { RemoveAbandonedCacheVms(); }

Status ServeVmCache(const VmCacheOptions& opts, const std::function<void()>& on_listening) {
  if (opts.size < 1) return Error(Code::kInvalidArgument, "factory.vm_cache_number must be at least 1 to serve a VM cache");
  CacheServer server(opts);
  return server.Run(on_listening);
}

}  // namespace kata::sandbox
