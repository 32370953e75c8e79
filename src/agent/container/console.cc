#include "agent/container/console.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/fd_passing.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

namespace kata::agent {

Result<PtyPair> OpenAgentPty(unsigned short rows, unsigned short cols) {
  PtyPair p;
  p.master.reset(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!p.master.valid()) return ErrnoError("open pty master");
  char name[64];
  int m = p.master.get();
  if (grantpt(m) != 0 || unlockpt(m) != 0 || ptsname_r(m, name, sizeof name) != 0) return ErrnoError("unlock pty");
  p.slave.reset(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!p.slave.valid()) return ErrnoError(std::string("open pty slave ") + name);
  if (rows || cols) {
    struct winsize ws = {};
    ws.ws_row = rows;
    ws.ws_col = cols;
    ioctl(p.slave.get(), TIOCSWINSZ, &ws);
  }
  return p;
}

// The agent side may allocate, so it uses the shared receiver; the sender
// below runs in the cloned child and must not.
Result<UniqueFd> RecvFd(int sock, const std::string& what) {
  std::string payload;
  std::vector<int> fds;
  Status st = RecvFds(sock, &payload, &fds, 1);
  if (!st.ok() && st.code() != Code::kUnavailable) return st.Wrap("receive " + what);
  if (fds.empty()) return Error(Code::kInternal, "the container process sent no " + what);
  return UniqueFd(fds[0]);
}

bool HasContainerPtmx(const std::string& root) {
  struct stat st;
  return stat((root + "/dev/pts/ptmx").c_str(), &st) == 0 && S_ISCHR(st.st_mode);
}

}  // namespace kata::agent

namespace kata::agent::child {
namespace {

Step SendFd(int sock, int fd) {
  char byte = 'T';
  struct iovec iov = {&byte, 1};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ssize_t n;
  do {
    n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != 1) return Fail(errno, "send the pty master to the agent");
  return Ok();
}

}  // namespace

Step SetupConsole(const ProcessPlan& p, int sock) {
  if (!p.terminal || !p.console_in_container) return Ok();
  UniqueFd master(open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master.valid()) return Fail(errno, "open /dev/ptmx in the container");
  int unlock = 0;
  if (ioctl(master.get(), TIOCSPTLCK, &unlock) != 0) return Fail(errno, "unlock pty");
  UniqueFd slave(ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave.valid()) return Fail(errno, "open pty slave");
  Step result = Ok();
  if (p.set_winsize) {
    struct winsize ws = {};
    ws.ws_row = p.rows;
    ws.ws_col = p.cols;
    if (ioctl(slave.get(), TIOCSWINSZ, &ws) != 0) result = Fail(errno, "set console size");
  }
  // The process may run as another user: it owns its terminal (runc does the same).
  if (!result.failed && p.uid != 0 && fchown(slave.get(), p.uid, static_cast<gid_t>(-1)) != 0) {
    result = Fail(errno, "chown pty slave");
  }
  for (int i = 0; i < 3 && !result.failed; ++i) {
    if (dup2(slave.get(), i) < 0) result = Fail(errno, "set up terminal stdio");
  }
  slave.reset();  // 0-2 are the terminal now
  if (!result.failed && ioctl(0, TIOCSCTTY, 0) != 0) result = Fail(errno, "set controlling terminal");
  if (!result.failed) result = SendFd(sock, master.get());
  return result;
}

}  // namespace kata::agent::child
