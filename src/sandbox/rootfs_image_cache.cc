#include "sandbox/rootfs_image_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <optional>

#include "common/fs.h"
#include "common/fs_at.h"
#include "common/log.h"
#include "common/process.h"
#include "common/rollback.h"
#include "common/sha256.h"
#include "common/unique_fd.h"

namespace kata::sandbox {
namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kMiB = 1024 * 1024;
// Changing how images are made changes every name: old ones age out.
constexpr const char* kFormat = "kata rootfs image v1: ext4, 4 KiB blocks, no journal\n";

struct TreeSize {
  uint64_t bytes = 0;   // data blocks, rounded up per file
  uint64_t inodes = 0;
};

uint64_t RoundUp(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

// The tree below the open directory `dir`, never following a symlink.
// Depth is bounded by the kernel's path length in practice; a tree deeper
// than 512 directories is refused rather than risking the stack.
Status Measure(int dir, int depth, TreeSize* out) {
  if (depth > 512) return Error(Code::kInvalidArgument, "image tree deeper than 512 directories");
  UniqueFd walk(dup(dir));
  DIR* d = walk.valid() ? fdopendir(walk.get()) : nullptr;
  if (!d) return ErrnoError("read image tree");
  walk.release();  // owned by `d` now
  Status st = Status::Ok();
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat s{};
    if (fstatat(dirfd(d), e->d_name, &s, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
    out->inodes++;
    out->bytes += S_ISDIR(s.st_mode) ? kBlock : RoundUp(static_cast<uint64_t>(s.st_size), kBlock);
    if (!S_ISDIR(s.st_mode)) continue;
    UniqueFd sub(openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.valid()) continue;
    st = Measure(sub.get(), depth + 1, out);
    if (!st.ok()) break;
  }
  closedir(d);
  return st;
}

// Room for the data, the inode tables (256 bytes an inode), directories'
// own blocks and ext4's metadata, with slack: mke2fs -d fails when short.
// The file is sparse: what it does not use costs nothing on the host.
uint64_t ImageBytes(const TreeSize& t, int attempt) {
  uint64_t want = t.bytes + t.inodes * 256;
  want = want + want / 4 + 32 * kMiB;
  return RoundUp(want << attempt, kMiB);
}

std::string E2fsTool(const std::string& name) {
  for (const std::string dir : {"/sbin/", "/usr/sbin/"}) {
    if (access((dir + name).c_str(), X_OK) == 0) return dir + name;
  }
  return name;
}

Status WaitFor(pid_t pid, const std::string& what) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoError("wait for " + what);
  }
  int code = proc::DecodeWaitStatus(status);
  if (code != 0) return Error(Code::kInternal, what + " exited with " + std::to_string(code));
  return Status::Ok();
}

// mke2fs -d `source` into the file `image` of `bytes`; its complaints go to `log`.
Status RunMke2fs(const std::string& source, const std::string& image, uint64_t bytes, uint64_t inodes,
                 const std::string& log) {
  {
    UniqueFd f(open(image.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!f.valid() || ftruncate(f.get(), static_cast<off_t>(bytes)) != 0) return ErrnoError("create " + image);
  }
  UniqueFd err(open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!err.valid()) return ErrnoError("create " + log);
  proc::SpawnOptions opts;
  opts.stdout_fd = err.get();
  opts.stderr_fd = err.get();
  std::vector<std::string> argv = {E2fsTool("mke2fs"), "-q", "-F", "-t", "ext4", "-b", std::to_string(kBlock), "-O", "^has_journal",
                                   "-m", "0", "-N", std::to_string(inodes + inodes / 8 + 64), "-d", source, image};
  ASSIGN_OR_RETURN(pid_t pid, proc::Spawn(argv, opts));
  Status st = WaitFor(pid, "mke2fs");
  // mke2fs makes /lost+found; the container's image has none (unless it had one).
  if (st.ok() && faccessat(AT_FDCWD, (source + "/lost+found").c_str(), F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
    ASSIGN_OR_RETURN(pid, proc::Spawn({E2fsTool("debugfs"), "-w", "-R", "rmdir lost+found", image}, opts));
    st = WaitFor(pid, "debugfs");
  }
  if (st.ok()) return st;
  auto said = fs::ReadFile(log, 4096);
  return st.Wrap(said.ok() ? "build image of " + source + ": " + *said : "build image of " + source);
}

// Writes the overlay of `lowers` into `image`. One layer is read as it is;
// several are mounted as one read-only overlay at `mnt` (overlay wants two
// layers at least when it has no upper one), so that their whiteouts and
// opaque directories are applied and the image holds the view the
// container would see.
Status WriteImage(const std::vector<std::string>& lowers, const std::string& mnt, const std::string& image,
                  const std::string& log) {
  std::string source = lowers.front();
  std::optional<Rollback> unmount;
  if (lowers.size() > 1) {
    std::string opts = "lowerdir=";
    for (size_t i = 0; i < lowers.size(); i++) opts += (i ? ":" : "") + lowers[i];
    if (mkdir(mnt.c_str(), 0700) != 0) return ErrnoError("mkdir " + mnt);
    if (mount("overlay", mnt.c_str(), "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, opts.c_str()) != 0) {
      return ErrnoError("mount the image's layers (" + opts + ")");
    }
    unmount.emplace([mnt] { umount2(mnt.c_str(), MNT_DETACH); });
    source = mnt;
  }
  UniqueFd top(open(source.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!top.valid()) return ErrnoError("open " + source);
  TreeSize size;
  RETURN_IF_ERROR(Measure(top.get(), 0, &size));
  Status st = RunMke2fs(source, image, ImageBytes(size, 0), size.inodes, log);
  // Short of room (a tree of many hard links or large directories): once more, twice the size.
  if (!st.ok()) st = RunMke2fs(source, image, ImageBytes(size, 1), size.inodes, log);
  return st;
}

std::atomic<int> build_counter{0};

}  // namespace

Result<std::string> RootfsImageCache::NameFor(const std::vector<std::string>& lowers) {
  if (lowers.empty()) return Error(Code::kInvalidArgument, "an image needs at least one layer");
  std::string id = kFormat;
  for (const std::string& l : lowers) {
    struct stat s{};
    char real[PATH_MAX];
    if (stat(l.c_str(), &s) != 0 || !realpath(l.c_str(), real)) return ErrnoError("image layer " + l);
    if (!S_ISDIR(s.st_mode)) return Error(Code::kInvalidArgument, "image layer " + l + " is not a directory");
    id += std::string(real) + '\0' + std::to_string(s.st_dev) + ' ' + std::to_string(s.st_ino) + ' ' +
          std::to_string(s.st_ctim.tv_sec) + '.' + std::to_string(s.st_ctim.tv_nsec) + '\n';
  }
  return Sha256Hex(id) + ".img";
}

Result<std::string> RootfsImageCache::ImageOf(const std::vector<std::string>& lowers) {
  ASSIGN_OR_RETURN(std::string name, NameFor(lowers));
  RETURN_IF_ERROR(fs::MkdirAll(dir_, 0700));
  std::string path = dir_ + "/" + name;
  if (utimensat(AT_FDCWD, path.c_str(), nullptr, AT_SYMLINK_NOFOLLOW) == 0) return path;  // a hit: marked used
  if (errno != ENOENT) return ErrnoError("rootfs image " + path);
  RETURN_IF_ERROR(Build(lowers, name).status());
  // Only a build grows the cache: trimming after one is enough.
  for (const std::string& gone : Trim(name)) log::Info("rootfs image cache " + dir_ + ": removed " + gone);
  return path;
}

Result<std::string> RootfsImageCache::Build(const std::vector<std::string>& lowers, const std::string& name) {
  auto t0 = std::chrono::steady_clock::now();
  std::string build = dir_ + "/.build-" + std::to_string(getpid()) + "-" + std::to_string(build_counter++);
  if (mkdir(build.c_str(), 0700) != 0) return ErrnoError("mkdir " + build);
  Rollback remove_build([build] {
    if (Status st = fs::RemoveTreeNoFollow(build); !st.ok()) log::Warn("remove " + build + ": " + st.message());
  });
  std::string image = build + "/image";
  RETURN_IF_ERROR(WriteImage(lowers, build + "/layers", image, build + "/mke2fs.log"));
  // A concurrent builder of the same layers may have got there first: same content, either wins.
  if (rename(image.c_str(), (dir_ + "/" + name).c_str()) != 0) return ErrnoError("store " + name);
  log::Info("rootfs image cache " + dir_ + ": built " + name + " of " + std::to_string(lowers.size()) + " layer(s) in " +
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
                               .count()) +
            " ms");
  return dir_ + "/" + name;
}

std::vector<std::string> RootfsImageCache::Trim(const std::string& keep, std::chrono::seconds grace) const {
  struct Entry {
    std::string name;
    uint64_t bytes;
    time_t used;
  };
  std::vector<Entry> images;
  std::vector<std::string> removed;
  uint64_t total = 0;
  time_t now = time(nullptr);
  auto names = fs::ListDir(dir_);
  if (!names.ok()) return removed;
  for (const std::string& n : *names) {
    struct stat s{};
    std::string p = dir_ + "/" + n;
    if (lstat(p.c_str(), &s) != 0) continue;
    if (n.rfind(".build-", 0) == 0 && S_ISDIR(s.st_mode) && now - s.st_mtime > 3600) {
      if (fs::RemoveTreeNoFollow(p).ok()) removed.push_back(n);
      continue;
    }
    if (!S_ISREG(s.st_mode) || n.size() < 4 || n.compare(n.size() - 4, 4, ".img") != 0) continue;
    total += static_cast<uint64_t>(s.st_blocks) * 512;
    images.push_back({n, static_cast<uint64_t>(s.st_blocks) * 512, s.st_mtime});
  }
  std::sort(images.begin(), images.end(), [](const Entry& a, const Entry& b) { return a.used < b.used; });
  for (const Entry& e : images) {
    if (total <= limit_bytes_) break;
    if (e.name == keep || now - e.used < grace.count()) continue;
    if (unlink((dir_ + "/" + e.name).c_str()) == 0) {
      total -= e.bytes;
      removed.push_back(e.name);
    }
  }
  return removed;
}

}  // namespace kata::sandbox
