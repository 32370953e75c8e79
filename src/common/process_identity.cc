#include "common/process_identity.h"

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <climits>
#include <sstream>

#include "common/fs.h"

namespace kata::proc {
namespace {

struct StatFields {
  char state = '?';
  uint64_t start_time = 0;
};

// Fields 3 (state) and 22 (starttime) of /proc/<pid>/stat. The command name
// (field 2) may hold spaces and parentheses: fields are counted after the
// last ')'.
Result<StatFields> ReadStat(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  auto text = fs::ReadFile(path);
  if (!text.ok()) return Error(Code::kNotFound, "process " + std::to_string(pid) + " does not exist");
  size_t paren = text->rfind(')');
  if (paren == std::string::npos) return Error(Code::kDataLoss, path + ": unexpected format");
  std::istringstream in(text->substr(paren + 1));
  std::string field;
  StatFields f;
  for (int n = 3; n <= 22 && in >> field; n++) {
    if (n == 3) f.state = field[0];
    if (n == 22) {
      auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), f.start_time);
      if (ec != std::errc() || end != field.data() + field.size()) {
        return Error(Code::kDataLoss, path + ": start time \"" + field + "\" is not a number");
      }
      return f;
    }
  }
  return Error(Code::kDataLoss, path + ": fewer than 22 fields");
}

std::string ExePath(pid_t pid) {
  char buf[PATH_MAX];
  ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// Run once the pidfd is open: if /proc/<pid> shows the recorded process now,
// the pidfd (opened before) can only be that process, so a pid recycled
// after this check is still never signalled through it.
Status CheckIdentity(const Identity& id, const std::string& exe_needle) {
  std::string who = "pid " + std::to_string(id.pid);
  ASSIGN_OR_RETURN(StatFields f, ReadStat(id.pid));
  if (f.start_time != id.start_time) {
    return Error(Code::kFailedPrecondition,
                 who + " is another process now (started at tick " + std::to_string(f.start_time) +
                     ", the recorded one at tick " + std::to_string(id.start_time) + "): not signalling it");
  }
  if (f.state == 'Z' || f.state == 'X') return Error(Code::kNotFound, who + " has exited");
  if (exe_needle.empty()) return Status::Ok();
  std::string exe = ExePath(id.pid);
  if (exe.find(exe_needle) == std::string::npos) {
    return Error(Code::kFailedPrecondition, who + " runs \"" + exe + "\", not " + exe_needle + ": not signalling it");
  }
  return Status::Ok();
}

}  // namespace

// Raw syscalls: glibc 2.36's <sys/pidfd.h> lacks extern "C", so its
// wrappers do not link from C++.
int PidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

Result<Identity> IdentityOf(pid_t pid) {
  if (pid <= 0) return Error(Code::kInvalidArgument, "no process has pid " + std::to_string(pid));
  ASSIGN_OR_RETURN(StatFields f, ReadStat(pid));
  if (f.state == 'Z' || f.state == 'X') return Error(Code::kNotFound, "process " + std::to_string(pid) + " has exited");
  return Identity{pid, f.start_time};
}

bool StillRunning(const Identity& id) {
  if (id.pid <= 0) return false;
  auto f = ReadStat(id.pid);
  if (!f.ok() || f->state == 'Z' || f->state == 'X') return false;
  return id.start_time == 0 || f->start_time == id.start_time;
}

Result<UniqueFd> OpenVerifiedPidfd(const Identity& id, const std::string& exe_needle) {
  std::string who = "pid " + std::to_string(id.pid);
  if (id.pid <= 0) return Error(Code::kNotFound, "no process recorded");
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, id.pid, 0)));
  if (!pidfd.valid()) {
    if (errno == ESRCH) return Error(Code::kNotFound, who + " has exited");
    return ErrnoError("pidfd_open " + who);
  }
  if (id.start_time == 0) {
    return Error(Code::kFailedPrecondition,
                 who + " was recorded without its start time, so it cannot be told from a recycled pid: "
                       "not signalling it (stop it by hand if it is still ours)");
  }
  RETURN_IF_ERROR(CheckIdentity(id, exe_needle));
  return pidfd;
}

Status SignalVerified(const Identity& id, const std::string& exe_needle, int sig) {
  ASSIGN_OR_RETURN(UniqueFd pidfd, OpenVerifiedPidfd(id, exe_needle));
  int rc = PidfdSendSignal(pidfd.get(), sig);
  int err = errno;
  if (rc != 0 && err == ESRCH) return Error(Code::kNotFound, "pid " + std::to_string(id.pid) + " has exited");
  if (rc != 0) return ErrnoError("signal " + std::to_string(sig) + " to pid " + std::to_string(id.pid), err);
  return Status::Ok();
}

bool WaitPidfdExit(int pidfd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{pidfd, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
    if (n > 0) return true;  // readable: the process has exited
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

std::string ToText(const Identity& id) { return std::to_string(id.pid) + " " + std::to_string(id.start_time); }

Result<Identity> IdentityFromText(const std::string& text) {
  std::istringstream in(text);
  long long pid = 0;
  unsigned long long start = 0;
  if (!(in >> pid >> start) || pid <= 1 || pid > INT32_MAX) {
    return Error(Code::kInvalidArgument, "not a process identity: \"" + text.substr(0, 64) + "\"");
  }
  return Identity{static_cast<pid_t>(pid), start};
}

Status StopVerified(const Identity& id, const std::string& exe_needle, int first, std::chrono::milliseconds grace) {
  auto pidfd = OpenVerifiedPidfd(id, exe_needle);
  if (!pidfd.ok()) return pidfd.status().code() == Code::kNotFound ? Status::Ok() : pidfd.status();
  if (first != 0) (void)PidfdSendSignal(pidfd->get(), first);
  if (WaitPidfdExit(pidfd->get(), grace)) return Status::Ok();
  (void)PidfdSendSignal(pidfd->get(), SIGKILL);
  if (WaitPidfdExit(pidfd->get(), std::chrono::seconds(5))) return Status::Ok();
  return Error(Code::kDeadlineExceeded, "pid " + std::to_string(id.pid) + " did not die after SIGKILL");
}

}  // namespace kata::proc
