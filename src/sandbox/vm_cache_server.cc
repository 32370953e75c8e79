// The VM cache server (sandbox/vm_cache.h): `kata-runtime factory init`.
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <memory>
#include <set>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "common/log.h"
#include "common/process.h"
#include "common/unique_fd.h"
#include "sandbox/leftovers.h"
#include "sandbox/ownership.h"
#include "sandbox/template_fingerprint.h"
#include "sandbox/vm_cache.h"
#include "sandbox/vm_cache_warmup.h"
#include "sandbox/vm_cache_wire.h"
#include "ttrpc/server.h"
#include "ttrpc/socket.h"

namespace kata::sandbox {
namespace {

using Clock = std::chrono::steady_clock;

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

// Shared (make_shared): each VmCache call and each connection runs on a
// thread of its own that holds the server, so one that outlives Run() still
// finds it (and its quit eventfd) alive.
class CacheServer : public std::enable_shared_from_this<CacheServer> {
 public:
  explicit CacheServer(const VmCacheOptions& opts) : opts_(opts), fingerprint_(TemplateFingerprint(opts.shape.vm)) {}
  CacheServer(const CacheServer&) = delete;
  CacheServer& operator=(const CacheServer&) = delete;
  Status Run(const std::function<void()>& on_listening);

  // The VmCache service (proto/vm_cache.proto); a refusal is the error.
  Result<vmcache::TakeReply> Take(const ttrpc::CallContext& ctx, const vmcache::TakeRequest& req);
  Result<vmcache::StatusReply> GetStatus(const ttrpc::CallContext& ctx, const vmcache::StatusRequest& req);
  Result<vmcache::QuitReply> Quit(const ttrpc::CallContext& ctx, const vmcache::QuitRequest& req);

 private:
  Status Open(UniqueFd* lfd, UniqueFd* sfd);
  void Register(ttrpc::Server& rpc);
  void AcceptLoop(ttrpc::Server& rpc, int lfd, int sfd);
  void ServeConnection(ttrpc::Server* rpc, int fd);
  void Drain(ttrpc::Server& rpc);
  void StopVms(std::thread& filler);
  void FillLoop();
  Result<std::unique_ptr<Sandbox>> MakeVm(const std::string& id);
  Result<std::unique_ptr<Sandbox>> TakeReady();
  // Why a sandbox wanting a VM like `fingerprint` cannot use these; "" if it can.
  std::string Mismatch(const std::string& fingerprint) const;

  VmCacheOptions opts_;
  std::string fingerprint_;
  std::string warm_dir_;  // the warm-up container's bundle; "" = no warm-up; set before serving
  UniqueFd quit_fd_;      // eventfd, written by Quit: wakes AcceptLoop
  std::mutex mu_;
  std::condition_variable cv_;        // wakes the filler
  std::condition_variable conns_cv_;  // open_conns_ went down
  std::deque<std::unique_ptr<Sandbox>> ready_;
  bool stopping_ = false;
  std::string last_error_;
  int open_conns_ = 0;  // connection threads still using the ttrpc::Server
};

// A VmCache method as a ttrpc handler (named, for the service's table in
// CacheServer::Register). It holds the server: ttrpc runs the call on a
// thread of its own, which may still run when Run() returns.
template <typename Req, typename Reply>
struct Method {
  std::shared_ptr<CacheServer> server;
  Result<Reply> (CacheServer::*fn)(const ttrpc::CallContext&, const Req&);
  Result<Reply> operator()(const ttrpc::CallContext& ctx, const Req& req) const {
    return (server.get()->*fn)(ctx, req);
  }
};

template <typename Req, typename Reply>
void BindMethod(ttrpc::Server& rpc, const char* name, std::shared_ptr<CacheServer> server,
                Result<Reply> (CacheServer::*fn)(const ttrpc::CallContext&, const Req&)) {
  rpc.Register(vmcache_wire::kService, name,
               ttrpc::TypedHandler<Req, Reply>(Method<Req, Reply>{std::move(server), fn}));
}

void CacheServer::Register(ttrpc::Server& rpc) {
  BindMethod(rpc, vmcache_wire::kTake, shared_from_this(), &CacheServer::Take);
  BindMethod(rpc, vmcache_wire::kStatus, shared_from_this(), &CacheServer::GetStatus);
  BindMethod(rpc, vmcache_wire::kQuit, shared_from_this(), &CacheServer::Quit);
}

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

// A ready VM, taken off the queue; VMs that died while they waited are dropped.
Result<std::unique_ptr<Sandbox>> CacheServer::TakeReady() {
  std::unique_ptr<Sandbox> sb;
  std::vector<std::unique_ptr<Sandbox>> dead;  // stopped and removed outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Error(Code::kUnavailable, "the VM cache is stopping");
    while (!ready_.empty() && !sb) {
      sb = std::move(ready_.front());
      ready_.pop_front();
      if (!sb->vm_running()) dead.push_back(std::move(sb));  // died while it waited
    }
    if (!sb) return Error(Code::kUnavailable, "no VM ready yet" + (last_error_.empty() ? "" : " (last failure: " + last_error_ + ")"));
  }
  cv_.notify_all();  // make a new one
  for (auto& d : dead) log::Warn("VM cache: " + d->id() + " died while it waited; dropped");
  return sb;
}

Result<vmcache::TakeReply> CacheServer::Take(const ttrpc::CallContext& ctx, const vmcache::TakeRequest& req) {
  if (std::string why = Mismatch(req.fingerprint()); !why.empty()) return Error(Code::kFailedPrecondition, why);
  ASSIGN_OR_RETURN(std::unique_ptr<Sandbox> sb, TakeReady());
  auto vm = sb->Release();
  if (!vm.ok()) return Error(Code::kUnavailable, vm.status().message());
  // Past the taker's deadline (its client sets one) it has given up and
  // booted its own VM: nobody would adopt this one.
  if (ctx.deadline && Clock::now() >= *ctx.deadline) {
    log::Warn("VM cache: " + vm->id + " released after its taker gave up; discarded");
    DiscardCachedVm(*vm);
    return Error(Code::kDeadlineExceeded, "the VM was released too late");
  }
  log::Info("VM cache: handed " + vm->id + " (pid " + std::to_string(vm->pid) + ") over");
  vmcache::TakeReply reply;
  reply.set_vm_id(vm->id);
  reply.set_pid(vm->pid);
  return reply;
}

Result<vmcache::StatusReply> CacheServer::GetStatus(const ttrpc::CallContext&, const vmcache::StatusRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  vmcache::StatusReply reply;
  reply.set_ready(static_cast<int32_t>(ready_.size()));
  reply.set_size(opts_.size);
  reply.set_last_error(last_error_);
  reply.set_warm(!warm_dir_.empty());
  // Asked with the fingerprint of a configuration: would its sandboxes take these VMs?
  if (!req.fingerprint().empty()) reply.set_mismatch(Mismatch(req.fingerprint()));
  return reply;
}

Result<vmcache::QuitReply> CacheServer::Quit(const ttrpc::CallContext&, const vmcache::QuitRequest&) {
  // The accept loop stops; the caller still gets this reply (Drain).
  uint64_t one = 1;
  if (write(quit_fd_.get(), &one, sizeof one) != sizeof one) return ErrnoError("VM cache quit");
  return vmcache::QuitReply();
}

// SIGINT/SIGTERM (read from a signalfd), the quit eventfd, leftovers of dead
// servers, the socket and the warm-up bundle: all before the first VM.
Status CacheServer::Open(UniqueFd* lfd, UniqueFd* sfd) {
  // Blocked before any thread starts, so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  quit_fd_.reset(eventfd(0, EFD_CLOEXEC));
  if (!quit_fd_.valid()) return ErrnoError("eventfd");
  sfd->reset(signalfd(-1, &stop_signals, SFD_CLOEXEC));
  if (!sfd->valid()) return ErrnoError("signalfd");
  RemoveAbandonedCacheVms();
  Status st = fs::MkdirAll(fs::Dirname(opts_.endpoint), 0755);
  auto listening = st.ok() ? ttrpc::ListenUnix(opts_.endpoint) : Result<int>(st);
  if (!listening.ok()) return listening.status().Wrap("VM cache endpoint");  // the caller closes *sfd
  lfd->reset(*listening);
  if (!opts_.warmup_binary.empty()) {
    auto bundle = PrepareWarmupBundle(kWarmupParent, opts_.warmup_binary);
    if (bundle.ok()) {
      warm_dir_ = *bundle;
    } else {
      log::Warn("VM cache: cached VMs will not be warm: " + bundle.status().message());
    }
  }
  return Status::Ok();
}

// Until Quit, SIGINT or SIGTERM. Each connection is served on a thread of its
// own, so a client that stalls holds up no other.
void CacheServer::AcceptLoop(ttrpc::Server& rpc, int lfd, int sfd) {
  for (;;) {
    pollfd fds[3] = {{lfd, POLLIN, 0}, {sfd, POLLIN, 0}, {quit_fd_.get(), POLLIN, 0}};
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0 || fds[2].revents != 0) return;
    UniqueFd conn(accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) continue;
    std::lock_guard<std::mutex> lock(mu_);
    try {
      std::thread(&CacheServer::ServeConnection, shared_from_this(), &rpc, conn.get()).detach();
      conn.release();  // ttrpc::Server::ServeConnection owns it now
      ++open_conns_;
    } catch (const std::system_error& e) {
      log::Warn(std::string("VM cache: cannot serve a connection: ") + e.what());
    }
  }
}

void CacheServer::ServeConnection(ttrpc::Server* rpc, int fd) {
  rpc->ServeConnection(fd);
  std::lock_guard<std::mutex> lock(mu_);
  --open_conns_;
  conns_cv_.notify_all();
}

// The Quit caller is owed its reply, sent after the handler returned: wait
// for the clients still connected to hang up (each does after its one call),
// at most kIoTimeout, then cut the rest. Connection threads use `rpc`, so
// all of them end before it does.
void CacheServer::Drain(ttrpc::Server& rpc) {
  std::unique_lock<std::mutex> lock(mu_);
  conns_cv_.wait_for(lock, vmcache_wire::kIoTimeout, [this] { return open_conns_ == 0; });
  lock.unlock();
  rpc.Shutdown();
  lock.lock();
  conns_cv_.wait(lock, [this] { return open_conns_ == 0; });
}

void CacheServer::StopVms(std::thread& filler) {
  std::deque<std::unique_ptr<Sandbox>> idle;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;  // a Take still in flight is refused
  }
  cv_.notify_all();
  filler.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    idle.swap(ready_);
  }
  idle.clear();  // each Sandbox stops its VM and removes its directories
}

Status CacheServer::Run(const std::function<void()>& on_listening) {
  if (AskVmCacheStatus(opts_.endpoint).ok()) {
    return Error(Code::kAlreadyExists, "a VM cache already serves at " + opts_.endpoint +
                                           " (stop it with `kata-runtime factory destroy`)");
  }
  UniqueFd lfd, sfd;
  RETURN_IF_ERROR(Open(&lfd, &sfd));
  ttrpc::Server rpc;
  Register(rpc);
  std::thread filler(&CacheServer::FillLoop, this);
  if (on_listening) on_listening();
  AcceptLoop(rpc, lfd.get(), sfd.get());
  lfd.reset();
  unlink(opts_.endpoint.c_str());
  sfd.reset();
  StopVms(filler);
  Drain(rpc);
  if (!warm_dir_.empty()) (void)fs::RemoveAll(warm_dir_);
  log::Info("VM cache at " + opts_.endpoint + " stopped");
  return Status::Ok();
}

}  // namespace

void RemoveVmsOfDeadCaches() { RemoveAbandonedCacheVms(); }

Status ServeVmCache(const VmCacheOptions& opts, const std::function<void()>& on_listening) {
  if (opts.size < 1) return Error(Code::kInvalidArgument, "factory.vm_cache_number must be at least 1 to serve a VM cache");
  auto server = std::make_shared<CacheServer>(opts);
  return server->Run(on_listening);
}

}  // namespace kata::sandbox
