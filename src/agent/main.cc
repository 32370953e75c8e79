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
#include <cstdlib>
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

struct Args {
  std::string listen_path;  // host test mode: serve this unix socket
  std::string cgroup_root = "/sys/fs/cgroup";
  bool debug = false;
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    // Also the VM cache's warm-up container (sandbox/vm_cache.h): a static
    // binary that starts and exits like a small container's process.
    if (arg == "--version") {
      std::printf("kata-agent %s\n", KATA_VERSION);
      std::exit(0);
    }
    if (arg == "--listen" && i + 1 < argc) a.listen_path = argv[++i];
    if (arg == "--cgroup-root" && i + 1 < argc) a.cgroup_root = argv[++i];
    if (arg == "--debug") a.debug = true;
  }
  return a;
}

// As PID 1 of the guest: the file systems, the console, modules, loopback.
void SetUpGuest() {
  if (auto st = kata::agent::MountBasics(); !st.ok()) Die("guest setup: " + st.message());
  if (kata::agent::KernelCmdlineHas("agent.log=debug")) {
    kata::log::Configure(2, kata::log::Level::kDebug, kata::log::Format::kText);
  }
  // The kernel gives init a console on fd 0-2 only if /dev/console existed
  // in the initramfs; reopen it now that devtmpfs is up.
  if (int fd = open("/dev/console", O_RDWR | O_CLOEXEC); fd >= 0) {
    // With 0-2 closed at boot the console lands on one of them: keep that
    // one (without its close-on-exec flag), close only a copy above them.
    for (int i = 0; i < 3; i++) (void)(i == fd ? fcntl(fd, F_SETFD, 0) : dup2(fd, i));
    if (fd > 2) close(fd);  // a dup2 sequence: 0-2 are the console now
  }
  if (auto st = kata::agent::LoadModules(kModulesList); !st.ok()) Die("guest setup: " + st.message());
  // Containers share the guest's network namespace: its loopback is theirs.
  if (auto st = kata::agent::BringUpLoopback(); !st.ok()) kata::log::Warn("guest setup: " + st.message());
}

// The host's channel: the virtio-serial port, which survives the host
// reconnecting; never returns.
[[noreturn]] void ServeAgentPort(kata::ttrpc::Server& server, kata::agent::AgentService& service,
                                 std::chrono::steady_clock::time_point t0) {
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

}  // namespace

int main(int argc, char** argv) {
  auto t0 = std::chrono::steady_clock::now();
  int64_t started_boottime_ns = kata::agent::AgentService::BoottimeNs();
  Args args = ParseArgs(argc, argv);
  bool as_init = getpid() == 1;
  kata::log::SetComponent("kata-agent");
  kata::log::Configure(2, args.debug ? kata::log::Level::kDebug : kata::log::Level::kInfo, kata::log::Format::kText);
  signal(SIGPIPE, SIG_IGN);
  if (as_init) SetUpGuest();
  kata::agent::Reaper::Get().Start();
  if (as_init && kata::agent::KernelCmdlineHas("agent.debug_console")) kata::agent::StartDebugConsole();

  kata::ttrpc::Server server;
  kata::agent::AgentOptions opts;
  opts.guest = as_init;
  opts.cgroup_root = args.cgroup_root;
  opts.started_boottime_ns = started_boottime_ns;
  kata::agent::AgentService service(opts);
  service.Register(server);
  if (args.listen_path.empty()) ServeAgentPort(server, service, t0);
  auto fd = kata::ttrpc::ListenUnix(args.listen_path);
  if (!fd.ok()) Die(fd.status().message());
  kata::log::Info("serving on " + args.listen_path);
  service.MarkReady();
  server.ServeListener(*fd);
  return 0;
}
