#include "common/process_identity.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>

#include <charconv>
#include <chrono>
#include <sstream>

#include "common/fs.h"

namespace kata::proc {

Result<uint64_t> StartTimeOf(pid_t pid) {
  auto stat = fs::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok() || stat->empty()) return Error(Code::kNotFound, "no process " + std::to_string(pid));
  // The command name (field 2) may hold spaces and parentheses: count the
  // fields after its last ')'. Field 3 is the state, field 22 the start time.
  size_t close = stat->rfind(')');
  if (close == std::string::npos) return Error(Code::kDataLoss, "unreadable /proc/" + std::to_string(pid) + "/stat");
  std::istringstream rest(stat->substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && (rest >> field); i++) {
    if (i == 22) {
      uint64_t t = 0;
      auto [p, ec] = std::from_chars(field.data(), field.data() + field.size(), t);
      if (ec == std::errc()) return t;
    }
  }
  return Error(Code::kDataLoss, "unreadable /proc/" + std::to_string(pid) + "/stat");
}

Result<Identity> IdentityOf(pid_t pid) {
  ASSIGN_OR_RETURN(uint64_t start, StartTimeOf(pid));
  return Identity{pid, start};
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

Result<UniqueFd> OpenIfSame(const Identity& id) {
  if (id.pid <= 1) return Error(Code::kNotFound, "no process");
  UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_open, id.pid, 0)));
  if (!fd.valid()) return Error(Code::kNotFound, "process " + std::to_string(id.pid) + " is gone");
  // Checked after the pidfd is open: if the pid was reused before, the start
  // time differs; if after, the pidfd names the dead process and signals
  // sent through it go nowhere.
  auto start = StartTimeOf(id.pid);
  if (!start.ok() || *start != id.start_time) {
    return Error(Code::kNotFound, "process " + std::to_string(id.pid) + " is gone (its pid names another process)");
  }
  return fd;
}

bool KillIfSame(const Identity& id, std::chrono::milliseconds timeout) {
  auto fd = OpenIfSame(id);
  if (!fd.ok()) return true;
  if (syscall(SYS_pidfd_send_signal, fd->get(), SIGKILL, nullptr, 0) != 0) return errno == ESRCH;
  // A pidfd is readable once its process has exited.
  pollfd p{fd->get(), POLLIN, 0};
  return poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

}  // namespace kata::proc
