#include "sandbox/stdio_fds.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "common/fd_passing.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "ttrpc/socket.h"

namespace kata::sandbox {
namespace {

std::mutex mu;
std::map<std::string, std::vector<UniqueFd>>& Store() {
  static std::map<std::string, std::vector<UniqueFd>> m;
  return m;
}

bool ParseUri(const std::string& uri, std::string* key, size_t* n) {
  if (uri.rfind(kFdScheme, 0) != 0) return false;
  std::string rest = uri.substr(std::string(kFdScheme).size());
  size_t slash = rest.find('/');
  if (slash == std::string::npos) return false;
  *key = rest.substr(0, slash);
  *n = static_cast<size_t>(std::stoul(rest.substr(slash + 1)));
  return true;
}

void HandleConnection(UniqueFd conn) {
  std::string key;
  std::vector<int> received;
  Status st = RecvFds(conn.get(), &key, &received, 3);
  std::vector<UniqueFd> fds(received.begin(), received.end());
  if (st.ok() && !key.empty()) {
    std::lock_guard<std::mutex> lock(mu);
    Store()[key] = std::move(fds);  // closes what an earlier hand-over left under the key
  }
  std::string reply = st.ok() ? "OK" : st.message();
  ssize_t unused = write(conn.get(), reply.data(), reply.size());
  (void)unused;
}

}  // namespace

Status ServeStdioSocket(const std::string& path) {
  ASSIGN_OR_RETURN(int listen_fd, ttrpc::ListenUnix(path));
  std::thread([listener = UniqueFd(listen_fd)] {
    while (true) {
      UniqueFd conn(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn.valid()) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      HandleConnection(std::move(conn));
    }
  }).detach();
  return Status::Ok();
}

Status SendStdio(const std::string& path, const std::string& key, const std::vector<int>& fds) {
  ASSIGN_OR_RETURN(int fd, ttrpc::DialUnix(path));
  UniqueFd sock(fd);
  Status st = SendFds(sock.get(), key, fds);
  char buf[512];
  ssize_t n = st.ok() ? read(sock.get(), buf, sizeof buf) : 0;
  sock.reset();
  RETURN_IF_ERROR(st);
  std::string reply(buf, n > 0 ? static_cast<size_t>(n) : 0);
  if (reply != "OK") return Error(Code::kInternal, "hand stdio to the sandbox service: " + reply);
  return Status::Ok();
}

Result<UniqueFd> TakeStdio(const std::string& uri) {
  std::string key;
  size_t n = 0;
  if (!ParseUri(uri, &key, &n)) return Error(Code::kInvalidArgument, "malformed stdio reference " + uri);
  std::lock_guard<std::mutex> lock(mu);
  auto it = Store().find(key);
  if (it == Store().end() || n >= it->second.size()) return Error(Code::kNotFound, "no stdio was handed over as " + uri);
  UniqueFd fd(fcntl(it->second[n].get(), F_DUPFD_CLOEXEC, 3));
  if (!fd.valid()) return ErrnoError("dup stdio " + uri);
  return fd;
}

void ReleaseStdio(const std::string& uri) {
  std::string key;
  size_t n = 0;
  if (!ParseUri(uri, &key, &n)) return;
  std::lock_guard<std::mutex> lock(mu);
  auto it = Store().find(key);
  if (it == Store().end()) return;
  Store().erase(it);  // closes them
}

}  // namespace kata::sandbox
