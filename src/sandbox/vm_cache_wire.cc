#include "sandbox/vm_cache_wire.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/fs.h"

namespace kata::sandbox::vmcache {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxLine = 1 << 20;

}  // namespace

Result<std::string> ReadLine(int fd, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string line;
  char buf[4096];
  while (line.find('\n') == std::string::npos) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) == 0) return Error(Code::kDeadlineExceeded, "no reply within the time limit");
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read");
    if (n == 0) return Error(Code::kUnavailable, "connection closed before a whole line");
    line.append(buf, static_cast<size_t>(n));
    if (line.size() > kMaxLine) return Error(Code::kInvalidArgument, "line longer than 1 MiB");
  }
  return line.substr(0, line.find('\n'));
}

Status WriteLine(int fd, const std::string& text) {
  if (!fs::SendAll(fd, text + "\n")) return ErrnoError("write");
  return Status::Ok();
}

}  // namespace kata::sandbox::vmcache
