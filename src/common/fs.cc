#include "common/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <vector>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>

namespace kata::fs {

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status WriteExisting(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open " + path);
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size())) return ErrnoError("write \"" + value + "\" to " + path, n < 0 ? err : EIO);
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, const std::string& data, int mode) {
  std::string dir = Dirname(path);
  std::string base = path.substr(dir.size() + (dir == "/" ? 0 : 1));
  std::string tmp = JoinPath(dir, "." + base + ".tmp" + std::to_string(getpid()));
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoError("create " + tmp);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status st = ErrnoError("write " + tmp);
      close(fd);
      unlink(tmp.c_str());
      return st;
    }
    off += static_cast<size_t>(n);
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    Status st = ErrnoError("rename " + tmp + " to " + path);
    unlink(tmp.c_str());
    return st;
  }
  return Status::Ok();
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

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
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
