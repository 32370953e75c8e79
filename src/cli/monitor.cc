#include "cli/monitor.h"

#include <fcntl.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "cli/parse.h"
#include "common/fd_passing.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "sandbox/stdio_fds.h"
#include "ttrpc/socket.h"

namespace kata::cli {
namespace {

void RedirectStdioToDevNull() {
  int fd = open("/dev/null", O_RDWR);
  for (int i = 0; i < 3; i++) dup2(fd, i);
  if (fd > 2) close(fd);  // a dup2 sequence: fd may be one of 0-2 itself
}

void WriteReport(int fd, const std::string& msg) {
  ssize_t unused = write(fd, msg.data(), msg.size());
  (void)unused;
}

}  // namespace

// A pty whose master is sent to `console_socket`; returns the slave.
Result<UniqueFd> PtyForConsoleSocket(const std::string& console_socket) {
  UniqueFd master(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master.valid()) return ErrnoError("open /dev/ptmx");
  if (grantpt(master.get()) != 0 || unlockpt(master.get()) != 0) return ErrnoError("unlock pty");
  UniqueFd slave(open(ptsname(master.get()), O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave.valid()) return ErrnoError("open pty slave");
  auto sock = ttrpc::DialUnix(console_socket);
  if (!sock.ok()) return sock.status().Wrap("console socket " + console_socket);
  UniqueFd conn(*sock);
  RETURN_IF_ERROR(SendFds(conn.get(), "/dev/ptmx", {master.get()}).Wrap("console socket " + console_socket));
  return slave;
}

Result<StdioRefs> HandOverStdio(const std::string& service_socket, const std::string& console_socket) {
  std::vector<int> fds = {0, 1, 2};
  UniqueFd slave;
  if (!console_socket.empty()) {
    ASSIGN_OR_RETURN(slave, PtyForConsoleSocket(console_socket));
    fds = {slave.get(), slave.get(), slave.get()};
  }
  std::random_device rd;
  std::string key = std::to_string(getpid()) + "-" + std::to_string(rd());
  Status st = sandbox::SendStdio(service_socket + ".stdio", key, fds);
  slave.reset();
  RETURN_IF_ERROR(st);
  std::string base = std::string(sandbox::kFdScheme) + key + "/";
  return StdioRefs{base + "0", base + "1", base + "2"};
}

Result<pid_t> ForkMonitor(const std::function<Status()>& setup, const std::function<int()>& wait) {
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd report_rd(report[0]), report_wr(report[1]);
  pid_t middle = fork();
  if (middle < 0) return ErrnoError("fork monitor");
  if (middle == 0) {
    report_rd.reset();
    pid_t monitor = fork();
    if (monitor != 0) _exit(monitor < 0 ? 1 : 0);
    Status st = setup();
    WriteReport(report_wr.get(), st.ok() ? "OK " + std::to_string(getpid()) : st.message());
    report_wr.reset();  // the caller reads to EOF
    if (!st.ok()) _exit(1);
    // Hold nothing of the caller's: its EOF must come when the process's output ends.
    RedirectStdioToDevNull();
    _exit(wait());
  }
  report_wr.reset();
  waitpid(middle, nullptr, 0);
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = read(report_rd.get(), buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
  report_rd.reset();
  if (msg.empty()) return Error(Code::kAborted, "monitor process died during set-up");
  if (msg.rfind("OK ", 0) != 0) return Error(Code::kInternal, msg);
  auto pid = ParseInteger(msg.substr(3), "pid from the monitor process", 1, INT32_MAX);
  if (!pid.ok()) return Error(Code::kInternal, pid.status().message());
  return static_cast<pid_t>(*pid);
}

void ForwardSignals(ServiceClient* client, const std::string& id, const std::string& exec_id) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, client, id, exec_id] {
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) return;
      Status st = client->Kill(id, exec_id, static_cast<uint32_t>(sig), false);
      if (!st.ok()) log::Debug("forward signal " + std::to_string(sig) + ": " + st.message());
    }
  }).detach();
}

}  // namespace kata::cli
