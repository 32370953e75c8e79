#include "common/fs_at.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <cerrno>
#include <vector>

#include "common/fs.h"

namespace kata::fs {
namespace {

constexpr int kMaxRemoveDepth = 128;

std::vector<std::string> Components(const std::string& rel) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < rel.size()) {
    size_t j = rel.find('/', i);
    if (j == std::string::npos) j = rel.size();
    if (j > i) parts.push_back(rel.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

Status RemoveContents(int dir, dev_t dev, const std::string& where, int depth);

// A bind mount of a directory of the same file system has the same st_dev:
// only statx tells that it is the root of a mount.
bool IsMountRoot(int dir, const char* name) {
  struct statx stx;
  if (statx(dir, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &stx) != 0) return false;
  return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0 && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
}

// `name` in `dir`, a directory on `dev` according to fstatat: opened without
// following a link, and checked to be that same directory (not something
// swapped in between), emptied, removed.
Status RemoveSubdir(int dir, const std::string& name, const struct stat& seen, const std::string& where, int depth) {
  std::string path = JoinPath(where, name);
  UniqueFd sub(openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!sub.valid()) return ErrnoError("open " + path + " to remove it");
  struct stat st;
  if (fstat(sub.get(), &st) != 0) return ErrnoError("stat " + path);
  if (st.st_dev != seen.st_dev || st.st_ino != seen.st_ino) {
    return Error(Code::kAborted, path + " changed while it was being removed");
  }
  RETURN_IF_ERROR(RemoveContents(sub.get(), seen.st_dev, path, depth + 1));
  if (unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) return ErrnoError("remove " + path);
  return Status::Ok();
}

Status RemoveContents(int dir, dev_t dev, const std::string& where, int depth) {
  if (depth > kMaxRemoveDepth) return Error(Code::kOutOfRange, where + " is nested too deep to remove");
  UniqueFd listing(openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!listing.valid()) return ErrnoError("list " + where);
  DIR* d = fdopendir(listing.get());
  if (d == nullptr) return ErrnoError("list " + where);
  listing.release();  // closedir() closes it
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  for (const std::string& name : names) {
    struct stat st;
    if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return ErrnoError("stat " + JoinPath(where, name));
    }
    if (!S_ISDIR(st.st_mode)) {
      if (unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) return ErrnoError("remove " + JoinPath(where, name));
      continue;
    }
    if (st.st_dev != dev || IsMountRoot(dir, name.c_str())) {
      return Error(Code::kFailedPrecondition, "refusing to remove " + JoinPath(where, name) + ": a mount point");
    }
    RETURN_IF_ERROR(RemoveSubdir(dir, name, st, where, depth));
  }
  return Status::Ok();
}

}  // namespace

Result<UniqueFd> OpenDirNoSymlinks(const std::string& path) {
  struct open_how how = {};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how);
  } while (fd < 0 && errno == EAGAIN);
  if (fd < 0) return ErrnoError("open directory " + path + " (no symlinks allowed)");
  return UniqueFd(static_cast<int>(fd));
}

Result<UniqueFd> OpenBeneath(int dir, const std::string& rel) {
  struct open_how how = {};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = syscall(SYS_openat2, dir, rel.empty() ? "." : rel.c_str(), &how, sizeof how);
  } while (fd < 0 && errno == EAGAIN);
  if (fd < 0) return ErrnoError("open " + rel + " (beneath its directory, no symlinks allowed)");
  return UniqueFd(static_cast<int>(fd));
}

Result<UniqueFd> MkdirsBelow(int dir, const std::string& rel, mode_t mode) {
  UniqueFd cur(openat(dir, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cur.valid()) return ErrnoError("open directory for " + rel);
  for (const std::string& part : Components(rel)) {
    if (part == "..") return Error(Code::kInvalidArgument, "\"..\" in " + rel);
    if (part == ".") continue;
    if (mkdirat(cur.get(), part.c_str(), mode) != 0 && errno != EEXIST) return ErrnoError("mkdir " + rel);
    UniqueFd next(openat(cur.get(), part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) return ErrnoError("enter " + part + " of " + rel + " (a symlink is refused)");
    cur = std::move(next);
  }
  return cur;
}

Result<UniqueFd> MakeFileIn(int dir, const std::string& name, mode_t mode) {
  UniqueFd made(openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode));
  if (!made.valid() && errno != EISDIR) return ErrnoError("create " + name + " (a symlink is refused)");
  UniqueFd fd(openat(dir, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (!fd.valid() || fstat(fd.get(), &st) != 0) return ErrnoError("open " + name);
  if (!S_ISREG(st.st_mode)) return Error(Code::kFailedPrecondition, name + " exists and is not a regular file");
  return fd;
}

Status RemoveTreeNoFollow(const std::string& path) {
  std::string parent = Dirname(path), name = Basename(path);
  UniqueFd pfd(open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!pfd.valid()) return errno == ENOENT ? Status::Ok() : ErrnoError("open " + parent);
  struct stat st;
  if (fstatat(pfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status::Ok() : ErrnoError("stat " + path);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(pfd.get(), name.c_str(), 0) != 0 && errno != ENOENT) return ErrnoError("remove " + path);
    return Status::Ok();
  }
  struct stat pst;
  if (fstat(pfd.get(), &pst) != 0) return ErrnoError("stat " + parent);
  if (st.st_dev != pst.st_dev || IsMountRoot(pfd.get(), name.c_str())) {
    return Error(Code::kFailedPrecondition, "refusing to remove mount point " + path);
  }
  return RemoveSubdir(pfd.get(), name, st, parent, 0);
}

}  // namespace kata::fs
