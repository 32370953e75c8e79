#include "agent/container/child_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace kata::agent::child {

int SysSetgroups(size_t n, const gid_t* groups) {
  return static_cast<int>(syscall(SYS_setgroups, n, groups));
}
int SysSetresgid(gid_t gid) { return static_cast<int>(syscall(SYS_setresgid, gid, gid, gid)); }
int SysSetresuid(uid_t uid) { return static_cast<int>(syscall(SYS_setresuid, uid, uid, uid)); }

void FdPath(int fd, char (&buf)[32]) {
  const char prefix[] = "/proc/self/fd/";
  size_t n = 0;
  for (; prefix[n] != '\0'; ++n) buf[n] = prefix[n];
  char digits[16];
  size_t d = 0;
  unsigned v = static_cast<unsigned>(fd);
  do {
    digits[d++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && d < sizeof digits);
  while (d > 0) buf[n++] = digits[--d];
  buf[n] = '\0';
}

bool WriteAll(int fd, const void* buf, size_t len) {
  const char* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

size_t StrLen(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

}  // namespace kata::agent::child
