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
#include "ttrpc/socket.h"

namespace kata::sandbox {
namespace {

std::mutex mu;
std::map<std::string, std::vector<int>>& Store() {
  static std::map<std::string, std::vector<int>> m;
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

void HandleConnection(int conn) {
  std::string key;
  std::vector<int> fds;
  Status st = RecvFds(conn, &key, &fds, 3);
  if (st.ok() && !key.empty()) {
    std::lock_guard<std::mutex> lock(mu);
    for (int fd : Store()[key]) close(fd);
    Store()[key] = fds;
  }
  std::string reply = st.ok() ? "OK" : st.message();
  ssize_t unused = write(conn, reply.data(), reply.size());
  (void)unused;
  close(conn);
}

}  // namespace

Status ServeStdioSocket(const std::string& path) {
  ASSIGN_OR_RETURN(int listen_fd, ttrpc::ListenUnix(path));
  std::thread([listen_fd] {
    while (true) {
      int conn = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      HandleConnection(conn);
    }
  }).detach();
  return Status::Ok();
}

Status SendStdio(const std::string& path, const std::string& key, const std::vector<int>& fds) {
  ASSIGN_OR_RETURN(int sock, ttrpc::DialUnix(path));
  Status st = SendFds(sock, key, fds);
  char buf[512];
  ssize_t n = st.ok() ? read(sock, buf, sizeof buf) : 0;
  close(sock);
  RETURN_IF_ERROR(st);
  std::string reply(buf, n > 0 ? static_cast<size_t>(n) : 0);
  if (reply != "OK") return Error(Code::kInternal, "hand stdio to the sandbox service: " + reply);
  return Status::Ok();
}

Result<int> TakeStdio(const std::string& uri) {
  std::string key;
  size_t n = 0;
  if (!ParseUri(uri, &key, &n)) return Error(Code::kInvalidArgument, "malformed stdio reference " + uri);
  std::lock_guard<std::mutex> lock(mu);
  auto it = Store().find(key);
  if (it == Store().end() || n >= it->second.size()) return Error(Code::kNotFound, "no stdio was handed over as " + uri);
  int fd = fcntl(it->second[n], F_DUPFD_CLOEXEC, 3);
  if (fd < 0) return ErrnoError("dup stdio " + uri);
  return fd;
}

void ReleaseStdio(const std::string& uri) {
  std::string key;
  size_t n = 0;
  if (!ParseUri(uri, &key, &n)) return;
  std::lock_guard<std::mutex> lock(mu);
  auto it = Store().find(key);
  if (it == Store().end()) return;
  for (int fd : it->second) close(fd);
  Store().erase(it);
}

}  // namespace kata::sandbox
