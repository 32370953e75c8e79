#include "vmm/qemu/qmp.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/json_parse.h"
#include "common/fd_passing.h"

namespace kata::vmm::qemu {
namespace {
constexpr size_t kMaxLine = 1 << 20;
}

QmpClient::~QmpClient() { Close(); }

void QmpClient::Close() {
  fd_.reset();
  buf_.clear();
}

Status QmpClient::Connect(const std::string& path, std::chrono::milliseconds timeout) {
  Close();
  fd_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd_.valid()) return ErrnoError("qmp socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return Error(Code::kInvalidArgument, "qmp socket path too long: " + path);
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    Status st = ErrnoError("connect to QMP " + path);
    Close();
    return st;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  ASSIGN_OR_RETURN(nlohmann::json greeting, ReadMessage(deadline));
  if (!greeting.contains("QMP")) return Error(Code::kInternal, "unexpected QMP greeting: " + greeting.dump());
  ASSIGN_OR_RETURN(nlohmann::json unused, Execute("qmp_capabilities", nullptr, timeout));
  (void)unused;
  return Status::Ok();
}

Result<nlohmann::json> QmpClient::ReadMessage(std::chrono::steady_clock::time_point deadline) {
  while (true) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      auto j = ParseJsonBounded(line, "QMP message");
      if (!j.ok()) return Error(Code::kInternal, "malformed QMP message");
      return j;
    }
    if (buf_.size() > kMaxLine) return Error(Code::kResourceExhausted, "QMP message too long");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Error(Code::kDeadlineExceeded, "QMP did not answer in time");
    pollfd p{fd_.get(), POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char tmp[4096];
    ssize_t n = read(fd_.get(), tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error(Code::kUnavailable, "QMP connection closed");
    buf_.append(tmp, static_cast<size_t>(n));
  }
}

Result<nlohmann::json> QmpClient::Execute(const std::string& cmd, const nlohmann::json& args,
                                          std::chrono::milliseconds timeout) {
  if (!fd_.valid()) return Error(Code::kFailedPrecondition, "QMP not connected");
  nlohmann::json req = {{"execute", cmd}};
  if (!args.is_null()) req["arguments"] = args;
  std::string line = req.dump() + "\n";
  if (write(fd_.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    return ErrnoError("write QMP command " + cmd);
  }
  return AwaitReturn(cmd, timeout);
}

Result<nlohmann::json> QmpClient::ExecuteWithFd(const std::string& cmd, const nlohmann::json& args, int fd,
                                                std::chrono::milliseconds timeout) {
  if (!fd_.valid()) return Error(Code::kFailedPrecondition, "QMP not connected");
  nlohmann::json req = {{"execute", cmd}, {"arguments", args}};
  RETURN_IF_ERROR(SendFds(fd_.get(), req.dump() + "\n", {fd}).Wrap("send QMP command " + cmd));
  return AwaitReturn(cmd, timeout);
}

Result<nlohmann::json> QmpClient::AwaitReturn(const std::string& cmd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    ASSIGN_OR_RETURN(nlohmann::json msg, ReadMessage(deadline));
    if (msg.contains("event")) continue;  // asynchronous events are not replies
    if (msg.contains("error")) {
      return Error(Code::kInternal, "QMP " + cmd + ": " + msg["error"].value("desc", msg["error"].dump()));
    }
    if (msg.contains("return")) return msg["return"];
  }
}

}  // namespace kata::vmm::qemu
