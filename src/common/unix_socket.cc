#include "common/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/unique_fd.h"

namespace kata {
namespace {

Result<sockaddr_un> UnixAddr(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return Error(Code::kInvalidArgument, "invalid unix socket path \"" + path + "\"");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

}  // namespace

Result<int> DialUnix(const std::string& path) {
  ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddr(path));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError("socket");
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    Status st = ErrnoError("dial " + path);
    return Status(st.code() == Code::kInternal ? Code::kUnavailable : st.code(), st.message());
  }
  return fd.release();  // the caller's
}

Result<int> ListenUnix(const std::string& path) {
  ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddr(path));
  struct stat sb;
  if (::lstat(path.c_str(), &sb) == 0 && S_ISSOCK(sb.st_mode)) ::unlink(path.c_str());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError("socket");
  // chmod before listen(): until listen() nobody can connect, so there is no
  // window in which the umask-derived mode lets another user in.
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
      ::chmod(path.c_str(), 0600) < 0 || ::listen(fd.get(), SOMAXCONN) < 0) {
    return ErrnoError("listen " + path);
  }
  return fd.release();  // the caller's
}

}  // namespace kata
