#include "sandbox/terminal.h"

#include <sys/ioctl.h>
#include <termios.h>

#include <chrono>

namespace kata::sandbox {
namespace {
constexpr auto kSizePoll = std::chrono::milliseconds(200);
}

TerminalRelay::TerminalRelay(AgentClient& agent, std::string cid, std::string exec_id, int tty_fd)
    : agent_(agent), cid_(std::move(cid)), exec_id_(std::move(exec_id)), tty_fd_(tty_fd) {
  termios t;
  if (tcgetattr(tty_fd_, &t) == 0) {
    cfmakeraw(&t);
    tcsetattr(tty_fd_, TCSANOW, &t);
  }
  watcher_ = std::thread(&TerminalRelay::FollowWindowSize, this);
}

TerminalRelay::~TerminalRelay() {
  stop_ = true;
  if (watcher_.joinable()) watcher_.join();
}

Status TerminalRelay::Resize(uint32_t rows, uint32_t cols) { return agent_.TtyWinResize(cid_, exec_id_, rows, cols); }

void TerminalRelay::FollowWindowSize() {
  winsize last{};
  while (!stop_) {
    winsize ws{};
    if (ioctl(tty_fd_, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
        (ws.ws_row != last.ws_row || ws.ws_col != last.ws_col)) {
      if (Resize(ws.ws_row, ws.ws_col).ok()) last = ws;
    }
    std::this_thread::sleep_for(kSizePoll);
  }
}

}  // namespace kata::sandbox
