#include "common/fd_passing.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"

namespace kata {

Status SendFds(int sock, const std::string& payload, const std::vector<int>& fds) {
  if (payload.empty()) return Error(Code::kInvalidArgument, "SendFds: the payload must not be empty");
  iovec iov{const_cast<char*>(payload.data()), payload.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) return ErrnoError("send file descriptors");
  }
  return Status::Ok();
}

Status RecvFds(int sock, std::string* payload, std::vector<int>* fds, size_t max_fds) {
  char buf[4096];
  iovec iov{buf, sizeof buf};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * max_fds));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0) {
    if (errno != EINTR) return ErrnoError("receive file descriptors");
  }
  if (n == 0) return Error(Code::kUnavailable, "receive file descriptors: connection closed");
  payload->assign(buf, static_cast<size_t>(n));
  std::vector<UniqueFd> received;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const int* p = reinterpret_cast<const int*>(CMSG_DATA(c));
    for (size_t i = 0; i < count; i++) received.emplace_back(p[i]);
  }
  if (msg.msg_flags & MSG_CTRUNC) {  // `received` closes what did arrive
    return Error(Code::kInvalidArgument, "receive file descriptors: more than " + std::to_string(max_fds) + " sent");
  }
  for (UniqueFd& fd : received) fds->push_back(fd.release());
  return Status::Ok();
}

}  // namespace kata
