#include "agent/debug_console.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "agent/reaper.h"
#include "common/fs.h"
#include "common/guest_paths.h"
#include "common/log.h"
#include "common/process.h"
#include "common/unique_fd.h"

namespace kata::agent {
namespace {

// The only virtio console port (the agent's port is not a console).
constexpr const char* kTty = "/dev/hvc0";
const std::string kShell = std::string(kGuestSharedDir) + "/" + kDebugShell;

// One shell on the tty, as its controlling terminal (busybox setsid -c), so
// that it has job control and ^C reaches the guest's foreground job.
void RunShell() {
  UniqueFd tty(open(kTty, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!tty.valid()) {
    log::Warn(std::string("debug console: open ") + kTty + " failed");
    std::this_thread::sleep_for(std::chrono::seconds(1));
    return;
  }
  proc::SpawnOptions so;
  so.stdin_fd = so.stdout_fd = so.stderr_fd = tty.get();
  so.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", "TERM=vt100", "PS1=kata-guest# "};
  so.executable = kShell;
  auto pid = proc::Spawn({"setsid", "-c", kShell, "sh", "-i"}, so);
  tty.reset();  // the shell has its own; not held while it runs
  if (!pid.ok()) {
    log::Warn("debug console: " + pid.status().message());
    std::this_thread::sleep_for(std::chrono::seconds(1));
    return;
  }
  log::Info("debug console: shell " + std::to_string(*pid) + " on " + kTty);
  int status = Reaper::Get().Wait(*pid);
  log::Info("debug console: shell exited with status " + std::to_string(status));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a shell that cannot start must not spin
}

}  // namespace

void StartDebugConsole() {
  std::thread([] {
    // The shell comes with the share (CreateSandbox).
    while (!fs::Exists(kShell)) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (;;) RunShell();
  }).detach();
}

}  // namespace kata::agent
