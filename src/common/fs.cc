#include "common/fs.h"

#include "common/unique_fd.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <ctime>
#include <vector>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>

namespace kata::fs {

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + path);
  std::string out;
  char buf[8192];
  while (out.size() < max_bytes) {
    ssize_t n = read(fd.get(), buf, std::min(sizeof buf, max_bytes - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read " + path);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status WriteExisting(const std::string& path, const std::string& value) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + path);
  ssize_t n = write(fd.get(), value.data(), value.size());
  int err = errno;
  if (n != static_cast<ssize_t>(value.size())) return ErrnoError("write \"" + value + "\" to " + path, n < 0 ? err : EIO);
  return Status::Ok();
}

namespace {

// A temp name nobody can predict, so nobody can plant a file or symlink at it
// beforehand (a guessable name let a user who can write the directory make
// root write through a symlink).
std::string RandomTempName(const std::string& base) {
  unsigned char bytes[12];
  // GRND_NONBLOCK: the guest agent writes files early in boot, before the
  // kernel's pool may be ready; it must not hang there.
  if (getrandom(bytes, sizeof bytes, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof bytes)) {
    // Guessable, but still unique, and O_EXCL|O_NOFOLLOW keeps it safe.
    static std::atomic<unsigned> counter{0};
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t v = (static_cast<uint64_t>(getpid()) << 32) ^ counter++ ^ static_cast<uint64_t>(ts.tv_nsec);
    std::memcpy(bytes, &v, sizeof v);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string name = "." + base.substr(0, 200) + ".tmp-";
  for (unsigned char b : bytes) {
    name += kHex[b >> 4];
    name += kHex[b & 15];
  }
  return name;
}

// O_EXCL: never an existing file; O_NOFOLLOW: never through a symlink (with
// O_EXCL a symlink already fails, this says so twice). `mode` is masked by
// the umask, as open() does.
Result<std::pair<int, std::string>> CreateTempIn(int dirfd, const std::string& dir, const std::string& base, int mode) {
  for (int attempt = 0; attempt < 16; attempt++) {
    std::string name = RandomTempName(base);
    int fd = openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0) return std::make_pair(fd, name);
    int err = errno;
    if (err != EEXIST) return ErrnoError("create temp file " + JoinPath(dir, name), err);
  }
  return Error(Code::kAlreadyExists, "create temp file for " + JoinPath(dir, base) + ": every random name was taken");
}

}  // namespace

Status WriteFileAtomic(const std::string& path, const std::string& data, int mode) {
  std::string dir = Dirname(path);
  std::string base = Basename(path);
  if (base.empty() || base == "." || base == "..") {
    return Error(Code::kInvalidArgument, "write " + path + ": not a file name");
  }
  // Everything relative to one directory fd: the directory cannot be swapped
  // under us between creating the temp file and renaming it.
  UniqueFd dirfd(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dirfd.valid()) return ErrnoError("open directory " + dir, errno);
  auto tmp = CreateTempIn(dirfd.get(), dir, base, mode);
  if (!tmp.ok()) return tmp.status();
  auto [fd, name] = *tmp;
  errno = 0;
  int err = WriteAll(fd, data) ? 0 : (errno != 0 ? errno : EIO);
  if (close(fd) != 0 && err == 0) err = errno;  // raw: close() may report the write's error
  Status st;
  if (err != 0) {
    st = ErrnoError("write " + JoinPath(dir, name), err);
  } else if (renameat(dirfd.get(), name.c_str(), dirfd.get(), base.c_str()) != 0) {
    // rename() replaces a symlink at `path` itself, never its target.
    err = errno;
    st = ErrnoError("rename " + JoinPath(dir, name) + " to " + path, err);
  }
  if (!st.ok()) unlinkat(dirfd.get(), name.c_str(), 0);
  return st;
}

Status MkdirAll(const std::string& path, int mode) {
  if (path.empty()) return Error(Code::kInvalidArgument, "mkdir: empty path");
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return ErrnoError("mkdir " + cur);
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoError("stat " + path);
  if (!S_ISDIR(st.st_mode)) return Error(Code::kFailedPrecondition, path + " exists and is not a directory");
  return Status::Ok();
}

bool IsMountPoint(const std::string& path) {
  struct stat self, parent;
  if (lstat(path.c_str(), &self) != 0 || !S_ISDIR(self.st_mode)) return false;
  if (stat((path + "/..").c_str(), &parent) != 0) return false;
  return self.st_dev != parent.st_dev || self.st_ino == parent.st_ino;
}

Status UnmountAllUnder(const std::string& prefix) {
  auto mounts = ReadFile("/proc/self/mounts");
  if (!mounts.ok()) return mounts.status();
  std::vector<std::string> targets;
  std::istringstream in(*mounts);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string src, target;
    fields >> src >> target;
    if (target == prefix || target.rfind(prefix + "/", 0) == 0) targets.push_back(target);
  }
  std::sort(targets.begin(), targets.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& t : targets) {
    if (umount2(t.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) return ErrnoError("unmount " + t);
  }
  return Status::Ok();
}

Status RemoveAll(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return errno == ENOENT ? Status::Ok() : ErrnoError("stat " + path);
  if (!S_ISDIR(st.st_mode)) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("remove " + path);
    return Status::Ok();
  }
  if (IsMountPoint(path)) return Error(Code::kFailedPrecondition, "refusing to remove mount point " + path);
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return ErrnoError("open directory " + path);
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    Status s = RemoveAll(JoinPath(path, name));
    if (!s.ok()) {
      closedir(d);
      return s;
    }
  }
  closedir(d);
  if (rmdir(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("remove " + path);
  return Status::Ok();
}

bool WriteAll(int fd, std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool SendAll(int fd, std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

Result<std::vector<std::string>> ListDir(const std::string& path) {
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return ErrnoError("open " + path);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  closedir(d);
  return names;
}

bool Exists(const std::string& path, bool follow_symlinks) {
  struct stat st;
  return (follow_symlinks ? stat(path.c_str(), &st) : lstat(path.c_str(), &st)) == 0;
}

bool IsBlockDevice(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
}

bool WaitForPath(const std::string& path, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!Exists(path)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

std::string Dirname(const std::string& path) {
  size_t pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

std::string Basename(const std::string& path) {
  size_t pos = path.find_last_of('/');
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

std::string JoinPath(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (!b.empty() && b[0] == '/') return a + b;
  return a.back() == '/' ? a + b : a + "/" + b;
}

Result<std::string> AbsolutePath(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char buf[PATH_MAX];
  if (getcwd(buf, sizeof buf) == nullptr) return ErrnoError("getcwd");
  return JoinPath(buf, path);
}

}  // namespace kata::fs
