#include "common/in_root.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <utility>

#include "common/unique_fd.h"

namespace kata::fs {

int OpenInRoot(int rootfd, const char* rel, int flags) {
  struct open_how how = {};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  if (rel[0] == '\0') rel = ".";
  for (;;) {
    long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
    if (fd < 0 && errno == EAGAIN) continue;  // a rename raced with the lookup
    return static_cast<int>(fd);
  }
}

namespace {

size_t StrLen(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

// The walk state of MkdirAllInRoot: `resolved` is the symlink-free path of
// `dir` from the root (no leading '/'), `todo` what is left to walk.
struct Walk {
  int rootfd;
  UniqueFd dir;
  char resolved[PATH_MAX];
  size_t resolved_len = 0;
  char todo[PATH_MAX];
  char scratch[PATH_MAX];

  bool Reset() {  // back to the root
    dir.reset();
    resolved_len = 0;
    resolved[0] = '\0';
    dir.reset(OpenInRoot(rootfd, ".", O_PATH | O_DIRECTORY));
    return dir.valid();
  }
  bool Up() {  // ".." never leaves the root
    while (resolved_len > 0 && resolved[resolved_len - 1] != '/') --resolved_len;
    if (resolved_len > 0) --resolved_len;
    resolved[resolved_len] = '\0';
    UniqueFd next(OpenInRoot(rootfd, resolved, O_PATH | O_DIRECTORY));
    if (!next.valid()) return false;
    dir = std::move(next);
    return true;
  }
  bool Down(const char* name, size_t len) {
    UniqueFd next(openat(dir.get(), name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) return false;
    if (resolved_len + len + 2 > sizeof resolved) {
      next.reset();
      errno = ENAMETOOLONG;
      return false;
    }
    if (resolved_len > 0) resolved[resolved_len++] = '/';
    for (size_t i = 0; i < len; ++i) resolved[resolved_len++] = name[i];
    resolved[resolved_len] = '\0';
    dir = std::move(next);
    return true;
  }
  // A symlink at `comp` (todo ends there, todo[end] was `saved`): its
  // target replaces it in todo, walked from the root when absolute.
  bool FollowLink(const char* comp, size_t end, char saved, int* links) {
    if (++*links > 40) {
      errno = ELOOP;
      return false;
    }
    char target[PATH_MAX];
    ssize_t n = readlinkat(dir.get(), comp, target, sizeof target);
    if (n < 0 || n >= static_cast<ssize_t>(sizeof target)) {
      if (n >= 0) errno = ENAMETOOLONG;
      return false;
    }
    todo[end] = saved;
    if (target[0] == '/' && !Reset()) return false;
    return Splice(target, static_cast<size_t>(n), todo + end);
  }
  // One component: "." stays, ".." goes up (never above the root), a
  // symlink is followed inside the root (*restarted: todo begins anew), a
  // missing directory is made; then entered, never through a symlink.
  bool Step(const char* comp, size_t clen, size_t end, char saved, mode_t mode, int* links, bool* restarted) {
    if (clen == 1 && comp[0] == '.') return true;
    if (clen == 2 && comp[0] == '.' && comp[1] == '.') return Up();
    struct stat st;
    if (fstatat(dir.get(), comp, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return errno == ENOENT && (mkdirat(dir.get(), comp, mode) == 0 || errno == EEXIST) && Down(comp, clen);
    }
    if (S_ISLNK(st.st_mode)) return *restarted = FollowLink(comp, end, saved, links);
    if (!S_ISDIR(st.st_mode)) {
      errno = ENOTDIR;
      return false;
    }
    return Down(comp, clen);
  }
  // todo = link target + "/" + rest.
  bool Splice(const char* target, size_t target_len, const char* rest) {
    size_t rest_len = StrLen(rest);
    if (target_len + 1 + rest_len + 1 > sizeof scratch) {
      errno = ENAMETOOLONG;
      return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < target_len; ++i) scratch[n++] = target[i];
    scratch[n++] = '/';
    for (size_t i = 0; i <= rest_len; ++i) scratch[n++] = rest[i];
    for (size_t i = 0; i < n; ++i) todo[i] = scratch[i];
    return true;
  }
};

}  // namespace

// Like securejoin's MkdirAll: components are walked one at a time; a symlink
// is read and its target walked in its place, relative to the root for
// absolute targets, so even a dangling link gets its target created inside
// the root, never outside.
int MkdirAllInRoot(int rootfd, const char* rel, mode_t mode) {
  Walk w;
  w.rootfd = rootfd;
  size_t len = StrLen(rel);
  if (len >= sizeof w.todo) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (size_t i = 0; i <= len; ++i) w.todo[i] = rel[i];
  if (!w.Reset()) return -1;
  int links = 0;
  size_t pos = 0;
  for (;;) {
    while (w.todo[pos] == '/') ++pos;
    if (w.todo[pos] == '\0') return w.dir.release();
    size_t end = pos;
    while (w.todo[end] != '\0' && w.todo[end] != '/') ++end;
    char saved = w.todo[end];
    w.todo[end] = '\0';
    bool restarted = false;
    if (!w.Step(w.todo + pos, end - pos, end, saved, mode, &links, &restarted)) {
      int err = errno;
      w.dir.reset();
      errno = err;
      return -1;
    }
    if (restarted) {
      pos = 0;
      continue;
    }
    w.todo[end] = saved;
    pos = end;
  }
}

}  // namespace kata::fs
