// containerd-shim-kata-v2: the sandbox service. One long-lived process per
// sandbox serving containerd.task.v2.Task over ttrpc.
//   <shim> [flags] start    containerd: spawn the service, print its address
//   <shim> [flags] delete   containerd: clean up after a dead service
//   <shim> [flags]          serve (on -socket PATH, or on fd 3 as containerd's runc shim does)
// Flags follow Go's flag package (single or double dash): -namespace -id
// -address -publish-binary -bundle -socket -debug, plus -config (ours).
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

int Serve(const Flags& flags) {
  if (auto st = PrivateMountNamespace(); !st.ok()) {
    kata::log::Error(st.message());
    return 1;
  }
  auto cfg = kata::config::Load(flags.Get("config"));
  if (!cfg.ok()) {
    kata::log::Error(cfg.status().message());
    return 1;
  }
  int listen_fd = 3;
  std::string socket_path = flags.Get("socket");
  if (!socket_path.empty()) {
    auto fd = kata::ttrpc::ListenUnix(socket_path);
    if (!fd.ok()) {
      kata::log::Error(fd.status().message());
      return 1;
    }
    listen_fd = *fd;
  }
  kata::ttrpc::Server server;
  kata::shim::TaskService service(*cfg, [&server] { server.Shutdown(); });
  service.Register(server);

  // SIGTERM/SIGINT: stop serving and tear everything down like a Shutdown.
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

  server.ServeListener(listen_fd);
  service.Teardown();
  if (!socket_path.empty()) unlink(socket_path.c_str());
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
  std::fprintf(stderr, "containerd-shim-kata-v2: action %s is not supported yet\n", flags.action.c_str());
  return 1;
}
