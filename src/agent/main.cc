// kata-agent: PID 1 of the guest. Sets the guest up, then serves the agent
// API over the virtio-serial port agent.channel.0. With --listen PATH it
// serves a unix socket instead (tests run it on the host that way);
// --cgroup-root DIR picks the cgroup2 mount for containers (default /sys/fs/cgroup).
#include <fcntl.h>
#include <signal.h>
#include <sys/reboot.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "agent/agent_service.h"
#include "agent/debug_console.h"
#include "agent/guest_network.h"
#include "agent/guest_setup.h"
#include "agent/reaper.h"
#include "common/log.h"
#include "ttrpc/server.h"

namespace {

constexpr const char* kPortName = "agent.channel.0";
constexpr const char* kModulesList = "/etc/kata/modules.list";

[[noreturn]] void Die(const std::string& why) {
  kata::log::Error(why);
  if (getpid() == 1) {
    sync();
    reboot(RB_POWER_OFF);  // PID 1 must not exit: power off so the host notices
  }
  _exit(1);
}

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  auto t0 = std::chrono::steady_clock::now();
  int64_t started_boottime_ns = kata::agent::AgentService::BoottimeNs();
  std::string listen_path;
  std::string cgroup_root = "/sys/fs/cgroup";
  bool debug = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    // Also the VM cache's warm-up container (sandbox/vm_cache.h): a static
    // binary that starts and exits like a small container's process.
    if (a == "--version") {
      std::printf("kata-agent %s\n", KATA_VERSION);
      return 0;
    }
    if (a == "--listen" && i + 1 < argc) listen_path = argv[++i];
    if (a == "--cgroup-root" && i + 1 < argc) cgroup_root = argv[++i];
    if (a == "--debug") debug = true;
  }
  bool as_init = getpid() == 1;
  kata::log::SetComponent("kata-agent");
  kata::log::Configure(2, debug ? kata::log::Level::kDebug : kata::log::Level::kInfo, kata::log::Format::kText);
  signal(SIGPIPE, SIG_IGN);

  if (as_init) {
    if (auto st = kata::agent::MountBasics(); !st.ok()) Die("guest setup: " + st.message());
    if (kata::agent::KernelCmdlineHas("agent.log=debug")) {
      kata::log::Configure(2, kata::log::Level::kDebug, kata::log::Format::kText);
    }
    // The kernel gives init a console on fd 0-2 only if /dev/console existed
    // in the initramfs; reopen it now that devtmpfs is up.
    if (int fd = open("/dev/console", O_RDWR | O_CLOEXEC); fd >= 0) {
      for (int i = 0; i < 3; i++) dup2(fd, i);
      close(fd);
    }
    if (auto st = kata::agent::LoadModules(kModulesList); !st.ok()) Die("guest setup: " + st.message());
    // Containers share the guest's network namespace: its loopback is theirs.
    if (auto st = kata::agent::BringUpLoopback(); !st.ok()) kata::log::Warn("guest setup: " + st.message());
  }
  kata::agent::Reaper::Get().Start();
  if (as_init && kata::agent::KernelCmdlineHas("agent.debug_console")) kata::agent::StartDebugConsole();

  kata::ttrpc::Server server;
  kata::agent::AgentOptions opts;
  opts.guest = as_init;
  opts.cgroup_root = cgroup_root;
  opts.started_boottime_ns = started_boottime_ns;
  kata::agent::AgentService service(opts);
  service.Register(server);

  if (!listen_path.empty()) {
    auto fd = kata::ttrpc::ListenUnix(listen_path);
    if (!fd.ok()) Die(fd.status().message());
    kata::log::Info("serving on " + listen_path);
    service.MarkReady();
    server.ServeListener(*fd);
    return 0;
  }
  auto port = kata::agent::FindSerialPort(kPortName);
  if (!port.ok()) Die(port.status().message());
  int fd = open(port->c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) Die("open " + *port + ": " + strerror(errno));
  service.MarkReady();
  kata::log::Info("ready on " + *port + " " + std::to_string(MsSince(t0)) + " ms after start");
  kata::ttrpc::ConnectionOptions copts;
  copts.reconnecting_device = true;
  server.ServeConnection(fd, copts);
  Die("agent channel closed");
}
