// containerd-shim-kata-v2: the sandbox service. One long-lived process per
// sandbox serving containerd.task.v2.Task over ttrpc.
//   <shim> [flags] start    containerd: spawn the service, print its address
//   <shim> [flags] delete   containerd: clean up after a dead service
//   <shim> [flags]          serve (on -socket PATH, or on fd 3 as containerd's runc shim does)
// Flags follow Go's flag package (single or double dash): -namespace -id
// -address -publish-binary -bundle -socket -debug, plus -config (ours).
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>
#include <thread>

#include "common/fs.h"
#include "common/log.h"
#include "config/config.h"
#include "sandbox/ownership.h"
#include "sandbox/share.h"
#include "shim/events.h"
#include "shim/shim_actions.h"
#include "sandbox/stdio_fds.h"
#include "shim/task_service.h"
#include "ttrpc/server.h"
#include "ttrpc/socket.h"

namespace {

struct Flags {
  std::map<std::string, std::string> values;
  bool debug = false;
  std::string action;
  std::string Get(const std::string& k) const {
    auto it = values.find(k);
    return it == values.end() ? "" : it->second;
  }
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a.size() > 1 && a[0] == '-') {
      std::string name = a.substr(a[1] == '-' ? 2 : 1);
      std::string value;
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (name == "debug" || name == "v") {
        if (name == "debug") f.debug = true;
        continue;
      } else if (i + 1 < argc) {
        value = argv[++i];
      }
      f.values[name] = value;
    } else {
      f.action = a;
    }
  }
  return f;
}

// Mounts the service makes (container rootfs binds) live in its own mount
// namespace: invisible to the host, and gone with the service even if it is
// SIGKILLed. Slave propagation still lets the host's mounts (e.g. a rootfs
// podman mounted for us) show through.
kata::Status PrivateMountNamespace() {
  if (unshare(CLONE_NEWNS) != 0) return kata::ErrnoError("unshare mount namespace");
  if (mount(nullptr, "/", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) return kata::ErrnoError("make / a slave mount");
  return kata::Status::Ok();
}

kata::shim::ShimFlags ToShimFlags(const Flags& f) {
  kata::shim::ShimFlags s;
  s.ns = f.Get("namespace");
  s.id = f.Get("id");
  s.address = f.Get("address");
  s.publish_binary = f.Get("publish-binary");
  s.bundle = f.Get("bundle");
  s.config = f.Get("config");
  s.debug = f.debug;
  return s;
}

std::string SelfExe(const char* argv0) {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string(argv0);
}

// Started by containerd (through `start`): log into the bundle's `log` fifo,
// which containerd copies to its own log. Non-blocking, so a containerd that
// is down or not reading costs log lines, never a stuck shim.
void LogToContainerdFifo(kata::log::Level level) {
  int fd = open("log", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;
  dup2(fd, 2);
  close(fd);  // a dup2 sequence: only the copy on fd 2 stays
  kata::log::Configure(2, level, kata::log::Format::kText);
}

// Before serving: the caller's mount namespace kept, our own made private.
// Every mount the service makes (containerd's rootfs mounts) stays in its
// own namespace; the container binds live in the VMM's (sandbox/share.h),
// a VM from the VM cache included.
kata::Status IsolateMounts() {
  RETURN_IF_ERROR(kata::sandbox::RememberCallerMountNamespace());
  return PrivateMountNamespace();
}

// The Task socket: fd 3 from `start` (containerd), or kata-runtime's path.
// kata-runtime hands the caller's stdio over a socket beside it; that one
// must exist before the Task socket, whose appearance the CLI waits for.
kata::Result<int> ListenForTasks(const std::string& socket_path) {
  if (socket_path.empty()) return 3;
  RETURN_IF_ERROR(kata::sandbox::ServeStdioSocket(socket_path + ".stdio"));
  return kata::ttrpc::ListenUnix(socket_path);
}

// SIGTERM/SIGINT: stop serving and tear everything down like a Shutdown.
void ShutdownOnSignals(kata::ttrpc::Server& server) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, &server] {
    int sig = 0;
    sigwait(&set, &sig);
    kata::log::Info("received signal " + std::to_string(sig) + ", shutting down");
    server.Shutdown();
  }).detach();
}

void RemoveSockets(const Flags& flags, const std::string& socket_path, bool containerd_mode) {
  if (!socket_path.empty()) {
    for (const char* suffix : {"", ".stdio", ".oom"}) unlink((socket_path + suffix).c_str());
  } else if (containerd_mode) {
    unlink(kata::shim::SocketPath(flags.Get("address"), flags.Get("namespace"), flags.Get("id")).c_str());
  }
}

int Serve(const Flags& flags) {
  bool containerd_mode = !flags.Get("address").empty();
  if (containerd_mode && flags.Get("log").empty()) {
    LogToContainerdFifo(flags.debug ? kata::log::Level::kDebug : kata::log::Level::kInfo);
  }
  auto cfg = kata::config::Load(flags.Get("config"));
  kata::Status st = cfg.ok() ? IsolateMounts() : cfg.status();
  std::string socket_path = flags.Get("socket");
  auto listen_fd = st.ok() ? ListenForTasks(socket_path) : kata::Result<int>(st);
  if (!listen_fd.ok()) {
    kata::log::Error(listen_fd.status().message());
    return 1;
  }
  // Events go to containerd only when it started us (-address), never from
  // kata-runtime's private service even if TTRPC_ADDRESS leaks into its env.
  const char* ttrpc_address = getenv("TTRPC_ADDRESS");
  kata::shim::EventPublisher publisher(containerd_mode && ttrpc_address ? ttrpc_address : "", flags.Get("namespace"));
  kata::ttrpc::Server server;
  kata::shim::TaskService service(*cfg, [&server] { server.Shutdown(); });
  service.SetPublisher(&publisher);
  service.SetOwner(socket_path.empty() ? kata::sandbox::ContainerdOwner(flags.Get("address"), flags.Get("namespace"))
                                       : kata::sandbox::KataRuntimeOwner(socket_path));
  if (!socket_path.empty()) service.SetOomRecord(socket_path + ".oom");
  service.Register(server);
  ShutdownOnSignals(server);
  server.ServeListener(*listen_fd);
  service.Teardown();
  RemoveSockets(flags, socket_path, containerd_mode);
  kata::log::Info("sandbox service " + flags.Get("id") + " exiting");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  Flags flags = ParseFlags(argc, argv);
  kata::log::SetComponent("kata-shim");
  kata::log::Level level = flags.debug ? kata::log::Level::kDebug : kata::log::Level::kInfo;
  std::string log_path = flags.Get("log");
  if (log_path.empty() || !kata::log::ConfigureFile(log_path, level, kata::log::Format::kText)) {
    kata::log::Configure(2, level, kata::log::Format::kText);
  }
  if (flags.action.empty()) return Serve(flags);
  if (flags.action == "start") return kata::shim::StartAction(ToShimFlags(flags), SelfExe(argv[0]));
  if (flags.action == "delete") return kata::shim::DeleteAction(ToShimFlags(flags));
  std::fprintf(stderr, "containerd-shim-kata-v2: unknown action %s\n", flags.action.c_str());
  return 1;
}
