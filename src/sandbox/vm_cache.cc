#include "sandbox/vm_cache.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>

#include "common/fs.h"
#include "common/log.h"
#include "common/process.h"
#include "sandbox/leftovers.h"
#include "sandbox/container.h"
#include "sandbox/paths.h"
#include "sandbox/template_fingerprint.h"
#include "ttrpc/socket.h"

namespace kata::sandbox {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kIoTimeout = std::chrono::seconds(5);
constexpr size_t kMaxLine = 1 << 20;
constexpr const char* kWarmupId = "warmup";
constexpr const char* kWarmupParent = "/run/kata-containers/vmcache";

Result<std::string> ReadLine(int fd, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string line;
  char buf[4096];
  while (line.find('\n') == std::string::npos) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) == 0) return Error(Code::kDeadlineExceeded, "no reply within the time limit");
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read");
    if (n == 0) return Error(Code::kUnavailable, "connection closed before a whole line");
    line.append(buf, static_cast<size_t>(n));
    if (line.size() > kMaxLine) return Error(Code::kInvalidArgument, "line longer than 1 MiB");
  }
  return line.substr(0, line.find('\n'));
}

Status WriteLine(int fd, const std::string& text) {
  std::string data = text + "\n";
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("write");
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// A container like `ctr run` makes (namespaces, the usual mounts, masked
// paths, capabilities, a seccomp filter), running the warm-up binary: the
// guest code every container start runs gets translated once, here.
json WarmupSpec() {
  json caps = json::array({"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                           "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                           "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"});
  return {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", {"/warmup", "--version"}},
        {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
        {"cwd", "/"},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"hostname", kWarmupId},
      {"mounts",
       {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}, {"options", {"nosuid", "noexec", "nodev"}}},
        {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
        {{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"},
         {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
        {{"destination", "/dev/shm"}, {"type", "tmpfs"}, {"source", "shm"}, {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
        {{"destination", "/dev/mqueue"}, {"type", "mqueue"}, {"source", "mqueue"}, {"options", {"nosuid", "noexec", "nodev"}}},
        {{"destination", "/sys"}, {"type", "sysfs"}, {"source", "sysfs"}, {"options", {"nosuid", "noexec", "nodev", "ro"}}},
        {{"destination", "/run"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}}}},
      {"linux",
       {{"cgroupsPath", std::string("/default/") + kWarmupId},
        {"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
        {"namespaces", {{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}, {{"type", "network"}}}},
        {"seccomp",
         {{"defaultAction", "SCMP_ACT_ALLOW"},
          {"architectures", {"SCMP_ARCH_X86_64"}},
          {"syscalls", {{{"names", {"kexec_load", "open_by_handle_at"}}, {"action", "SCMP_ACT_ERRNO"}}}}}},
        {"maskedPaths", {"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"}},
        {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}},
  };
}

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
    if (Status st = RemoveVmLeftovers(id); !st.ok()) log::Warn("VM cache: " + st.message());
  }
}

class CacheServer {
 public:
  explicit CacheServer(const VmCacheOptions& opts) : opts_(opts), fingerprint_(TemplateFingerprint(opts.shape.vm)) {}
  Status Run(const std::function<void()>& on_listening);

 private:
  Status PrepareWarmup();
  void FillLoop();
  Result<std::unique_ptr<Sandbox>> MakeVm(const std::string& id);
  Status WarmUp(Sandbox& sb);
  void ServeOne(int conn, bool* quit);
  json Take(const std::string& fingerprint);
  json Status_();

  VmCacheOptions opts_;
  std::string fingerprint_;
  std::string warm_dir_;  // the warm-up container's bundle; "" = no warm-up
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Sandbox>> ready_;
  bool stopping_ = false;
  std::string last_error_;
};

Status CacheServer::PrepareWarmup() {
  if (opts_.warmup_binary.empty()) return Status::Ok();
  warm_dir_ = std::string(kWarmupParent) + "/" + std::to_string(getpid());
  RETURN_IF_ERROR(fs::RemoveAll(warm_dir_));
  RETURN_IF_ERROR(fs::MkdirAll(warm_dir_ + "/rootfs", 0755));
  ASSIGN_OR_RETURN(std::string binary, fs::ReadFile(opts_.warmup_binary));
  RETURN_IF_ERROR(fs::WriteFileAtomic(warm_dir_ + "/rootfs/warmup", binary, 0755));
  RETURN_IF_ERROR(fs::WriteFileAtomic(warm_dir_ + "/output", "", 0600));
  return fs::WriteFileAtomic(warm_dir_ + "/config.json", WarmupSpec().dump(2), 0600);
}

Status CacheServer::WarmUp(Sandbox& sb) {
  StdioPaths io{"", warm_dir_ + "/output", warm_dir_ + "/output", false};
  ASSIGN_OR_RETURN(std::unique_ptr<Container> c, Container::Create(sb, kWarmupId, warm_dir_, WarmupSpec(), io));
  Status st = c->Start();
  if (st.ok()) {
    int status = c->init().Wait().status;
    if (status != 0) st = Error(Code::kInternal, "the warm-up container exited with status " + std::to_string(status));
  }
  Status del = c->Delete(true);
  return st.ok() ? del : st;
}

Result<std::unique_ptr<Sandbox>> CacheServer::MakeVm(const std::string& id) {
  SandboxConfig cfg = opts_.shape;
  cfg.id = id;
  cfg.hostname = id;
  cfg.vm.detached = true;
  cfg.network = false;  // its NIC's tap waits in the VM's own namespace
  cfg.netns_path.clear();
  cfg.vm_cache_endpoint.clear();
  ASSIGN_OR_RETURN(std::unique_ptr<Sandbox> sb, Sandbox::Boot(cfg));
  if (!warm_dir_.empty()) RETURN_IF_ERROR(WarmUp(*sb).Wrap("warm-up of " + id));
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

json CacheServer::Take(const std::string& fingerprint) {
  std::unique_ptr<Sandbox> sb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (fingerprint != fingerprint_) {
      FingerprintCheck c = CompareFingerprint(fingerprint_, fingerprint, nullptr);
      return {{"error", "the cached VMs are made differently: " + (c.reason.empty() ? "fingerprint differs" : c.reason)}};
    }
    if (ready_.empty()) return {{"error", "no VM ready yet" + (last_error_.empty() ? "" : " (last failure: " + last_error_ + ")")}};
    sb = std::move(ready_.front());
    ready_.pop_front();
  }
  cv_.notify_all();  // make a new one
  auto vm = sb->Release();
  if (!vm.ok()) return {{"error", vm.status().message()}};
  log::Info("VM cache: handed " + vm->id + " (pid " + std::to_string(vm->pid) + ") over");
  return {{"vm_id", vm->id}, {"pid", vm->pid}};
}

json CacheServer::Status_() {
  std::lock_guard<std::mutex> lock(mu_);
  return {{"ready", ready_.size()}, {"size", opts_.size}, {"last_error", last_error_}, {"warm", !warm_dir_.empty()}};
}

void CacheServer::ServeOne(int conn, bool* quit) {
  auto line = ReadLine(conn, kIoTimeout);
  if (!line.ok()) return;
  json req = json::parse(*line, nullptr, false);
  json reply;
  std::string op = req.is_object() ? req.value("op", "") : "";
  if (op == "take") {
    reply = Take(req.value("fingerprint", ""));
  } else if (op == "status") {
    reply = Status_();
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
  Status st = PrepareWarmup();
  if (!st.ok()) log::Warn("VM cache: cached VMs will not be warm: " + st.message());
  if (!st.ok()) warm_dir_.clear();
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

Result<json> AskVmCache(const std::string& endpoint, const json& request) {
  auto fd = ttrpc::DialUnix(endpoint);
  if (!fd.ok()) {
    return Error(Code::kUnavailable, "no VM cache answers at " + endpoint + " (" + fd.status().message() +
                                         "; start one with `kata-runtime factory init`)");
  }
  Status st = WriteLine(*fd, request.dump());
  Result<std::string> line = st.ok() ? ReadLine(*fd, kIoTimeout) : Result<std::string>(st);
  close(*fd);
  if (!line.ok()) return line.status().Wrap("VM cache at " + endpoint);
  json reply = json::parse(*line, nullptr, false);
  if (!reply.is_object()) return Error(Code::kInternal, "VM cache at " + endpoint + " sent a reply that is not JSON");
  if (reply.contains("error")) return Error(Code::kUnavailable, "VM cache at " + endpoint + ": " + reply.value("error", ""));
  return reply;
}

Result<CachedVm> TakeCachedVm(const std::string& endpoint, const std::string& fingerprint) {
  ASSIGN_OR_RETURN(json reply, AskVmCache(endpoint, {{"op", "take"}, {"fingerprint", fingerprint}}));
  if (!reply.contains("vm_id") || !reply["vm_id"].is_string() || !reply.contains("pid") || !reply["pid"].is_number_integer()) {
    return Error(Code::kInternal, "VM cache at " + endpoint + " sent no vm_id and pid");
  }
  CachedVm vm{reply["vm_id"].get<std::string>(), reply["pid"].get<pid_t>()};
  if (vm.id.find('/') != std::string::npos || vm.id.empty() || vm.id[0] == '.') {
    return Error(Code::kInternal, "VM cache at " + endpoint + " sent a bad VM id \"" + vm.id + "\"");
  }
  return vm;
}

bool CachedVmAlive(const CachedVm& vm) {
  auto cmdline = fs::ReadFile("/proc/" + std::to_string(vm.pid) + "/cmdline");
  return vm.pid > 0 && cmdline.ok() && cmdline->find("/" + vm.id + "/") != std::string::npos;
}

void DiscardCachedVm(const CachedVm& vm) {
  int pidfd = CachedVmAlive(vm) ? static_cast<int>(syscall(SYS_pidfd_open, vm.pid, 0)) : -1;
  if (pidfd >= 0) {
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    pollfd p{pidfd, POLLIN, 0};
    poll(&p, 1, 2000);
    close(pidfd);
  }
  (void)fs::UnmountAllUnder(SharedSandboxDir(vm.id));
  (void)fs::RemoveAll(SharedSandboxDir(vm.id));
  (void)fs::RemoveAll(VmRunDir(vm.id));
}

void RemoveVmsOfDeadCaches() { RemoveAbandonedCacheVms(); }

Status ServeVmCache(const VmCacheOptions& opts, const std::function<void()>& on_listening) {
  if (opts.size < 1) return Error(Code::kInvalidArgument, "factory.vm_cache_number must be at least 1 to serve a VM cache");
  CacheServer server(opts);
  return server.Run(on_listening);
}

}  // namespace kata::sandbox
