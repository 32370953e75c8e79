#include "cli/debug_console.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "cli/state_dir.h"
#include "common/fs.h"
#include "common/unique_fd.h"
#include "sandbox/paths.h"

namespace kata::cli {
namespace {

constexpr char kEscape = 0x1d;  // Ctrl-], as telnet and virsh console

// Raw mode on the terminal for the session, restored after it.
struct RawTerminal {
  bool active = false;
  termios saved{};
  RawTerminal() {
    if (!isatty(0) || tcgetattr(0, &saved) != 0) return;
    termios raw = saved;
    cfmakeraw(&raw);
    active = tcsetattr(0, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active) tcsetattr(0, TCSANOW, &saved);
  }
};

// false at EOF, an error, or (from a terminal) the escape key.
bool Copy(int from, int to, bool watch_escape = false) {
  char buf[4096];
  ssize_t n = read(from, buf, sizeof buf);
  if (n <= 0) return false;
  std::string_view data(buf, static_cast<size_t>(n));
  if (watch_escape && data.find(kEscape) != std::string_view::npos) return false;
  return fs::WriteAll(to, data);
}

}  // namespace

Result<std::string> DebugConsoleSocket(const std::string& sandbox_id) {
  RETURN_IF_ERROR(ValidateId(sandbox_id));
  std::string path = fs::JoinPath(sandbox::VmRunDir(sandbox_id), "console.sock");
  return fs::Exists(path) ? path : std::string();
}

Status RunDebugConsole(const std::string& socket_path) {
  UniqueFd sock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return ErrnoError("debug console socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
  if (connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoError("connect to the debug console " + socket_path);
  }
  bool interactive = isatty(0);
  if (interactive) fprintf(stderr, "kata-runtime: guest debug console (busybox sh); Ctrl-] leaves\r\n");
  RawTerminal raw;
  // A newline: the prompt printed while nobody was attached is gone.
  if (interactive) (void)!write(sock.get(), "\n", 1);
  bool stdin_open = true;
  for (;;) {
    pollfd p[2] = {{sock.get(), POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}};
    int n = poll(p, 2, stdin_open ? -1 : 1000);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // n == 0: stdin ended and the guest has said all it had to say
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (!Copy(sock.get(), 1)) break;  // the VM went away
    }
    if (stdin_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      if (!Copy(0, sock.get(), interactive)) {
        if (interactive) break;  // the escape key (or the terminal went away)
        stdin_open = false;
      }
    }
  }
  sock.reset();  // before the terminal is restored, as the session ends
  return Status::Ok();
}

}  // namespace kata::cli
