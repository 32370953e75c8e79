#include "sandbox/share.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "common/fs_at.h"
#include "common/mountinfo.h"
#include "common/unique_fd.h"

namespace kata::sandbox {
namespace {

// Runs `fn` on a thread of its own that entered the mount namespace `ns_fd`
// (a namespace fd or a pidfd): setns() on a thread that stopped sharing its
// file-system context (CLONE_FS) moves that thread only.
Status InMountNamespace(int ns_fd, const std::string& whose, const std::function<Status()>& fn) {
  Status st;
  std::thread t([&] {
    if (unshare(CLONE_FS) != 0) {
      st = ErrnoError("unshare the file-system context");
    } else if (setns(ns_fd, CLONE_NEWNS) != 0) {
      st = ErrnoError("enter the mount namespace of " + whose);
    } else {
      st = fn();
    }
  });
  t.join();
  return st;
}

Status InMountNamespaceOf(pid_t pid, const std::function<Status()>& fn) {
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid()) return ErrnoError("the VMM (pid " + std::to_string(pid) + ") is gone");
  return InMountNamespace(pidfd.get(), "the VMM (pid " + std::to_string(pid) + ")", fn);
}

UniqueFd& CallerMountNamespace() {
  static UniqueFd fd;
  return fd;
}

Result<UniqueFd> OpenTreeClone(const std::string& source) {
  UniqueFd tree(open_tree(AT_FDCWD, source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
  if (!tree.valid()) return ErrnoError("share " + source + " with the guest");
  return tree;
}

// A detached copy of the mount tree at `source`, with the flags it will
// have in the share. A source missing from the caller's namespace is looked
// for in our own (a path only the service has mounted).
Result<UniqueFd> CloneTree(const std::string& source, bool readonly, Share::From from) {
  Result<UniqueFd> tree = Error(Code::kNotFound, "");
  if (from == Share::From::kCallerNamespace && CallerMountNamespace().valid()) {
    (void)InMountNamespace(CallerMountNamespace().get(), "the caller", [&]() -> Status {
      tree = OpenTreeClone(source);
      return Status::Ok();
    });
  }
  if (!tree.ok()) tree = OpenTreeClone(source);
  if (!tree.ok()) return tree.status();
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (readonly ? MOUNT_ATTR_RDONLY : 0);
  if (mount_setattr(tree->get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0) {
    return ErrnoError("set nosuid,nodev" + std::string(readonly ? ",ro" : "") + " on the share of " + source);
  }
  return tree;
}

// `fn` in the caller's mount namespace, or in ours when it was not kept.
Status InCallerMountNamespace(const std::function<Status()>& fn) {
  if (!CallerMountNamespace().valid()) return fn();
  return InMountNamespace(CallerMountNamespace().get(), "the caller", fn);
}

// The mount points at or below `dir` in the calling thread's namespace,
// deepest first.
std::vector<std::string> MountsBelow(const std::string& dir) {
  std::vector<std::string> out;
  auto text = fs::ReadFile("/proc/thread-self/mountinfo");
  if (!text.ok()) return out;
  for (const MountInfo& m : ParseMountInfo(*text)) {
    if (m.mount_point == dir || m.mount_point.rfind(dir + "/", 0) == 0) out.push_back(m.mount_point);
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

}  // namespace

Share::Share(std::string sandbox_dir) : dir_(std::move(sandbox_dir)) {}

Status Share::Create() const {
  RETURN_IF_ERROR(fs::MkdirAll(fs::Dirname(dir_), 0700));
  if (mkdir(dir_.c_str(), 0700) != 0) {
    if (errno == EEXIST) return Error(Code::kAlreadyExists, dir_ + " exists");
    return ErrnoError("create " + dir_);
  }
  RETURN_IF_ERROR(fs::MkdirAll(source_dir(), 0700));
  return fs::MkdirAll(exported_dir(), 0700);
}

Status RememberCallerMountNamespace() {
  UniqueFd fd(open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open this process's mount namespace");
  CallerMountNamespace() = std::move(fd);
  return Status::Ok();
}

Status Share::Bind(pid_t vmm_pid, const std::string& source, const std::string& rel, bool readonly, From from) const {
  ASSIGN_OR_RETURN(UniqueFd tree, CloneTree(source, readonly, from));
  struct stat st;
  if (fstat(tree.get(), &st) != 0) return ErrnoError("stat " + source);
  return InMountNamespaceOf(vmm_pid, [&]() -> Status {
    ASSIGN_OR_RETURN(UniqueFd root, fs::OpenDirNoSymlinks(source_dir()));
    ASSIGN_OR_RETURN(UniqueFd parent, fs::MkdirsBelow(root.get(), fs::Dirname(rel), 0755));
    std::string name = fs::Basename(rel);
    UniqueFd target;
    if (S_ISDIR(st.st_mode)) {
      ASSIGN_OR_RETURN(target, fs::MkdirsBelow(parent.get(), name, 0755));
    } else {
      ASSIGN_OR_RETURN(target, fs::MakeFileIn(parent.get(), name, 0644));
    }
    if (move_mount(tree.get(), "", target.get(), "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
      return ErrnoError("bind " + source + " into the share at " + rel);
    }
    return Status::Ok();
  });
}

Status Share::Unbind(pid_t vmm_pid, const std::string& top) const {
  std::string dir = fs::JoinPath(source_dir(), top);
  if (!fs::Exists(dir)) return Status::Ok();
  auto unmount_all = [&]() -> Status {
    for (const std::string& m : MountsBelow(dir)) {
      if (umount2(m.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT) {
        return ErrnoError("unmount " + m);
      }
    }
    return fs::RemoveTreeNoFollow(dir);
  };
  // A VMM that is gone took its namespace, and the binds, with it.
  if (vmm_pid > 0 && InMountNamespaceOf(vmm_pid, unmount_all).ok()) return Status::Ok();
  return fs::RemoveTreeNoFollow(dir);
}

Result<HostMirror> Share::MirrorOnHost(pid_t vmm_pid, const std::string& share_rel, const std::string& volume_source,
                                       const std::string& target_rel) const {
  UniqueFd tree;
  RETURN_IF_ERROR(InMountNamespaceOf(vmm_pid, [&]() -> Status {
    ASSIGN_OR_RETURN(UniqueFd root, fs::OpenDirNoSymlinks(source_dir()));
    ASSIGN_OR_RETURN(UniqueFd src, fs::OpenBeneath(root.get(), share_rel));
    tree.reset(open_tree(src.get(), "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH));
    if (!tree.valid()) return ErrnoError("clone " + share_rel + " of the share");
    return Status::Ok();
  }));
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) {
    return ErrnoError("set nosuid,nodev on the mirror of " + share_rel);
  }
  std::string host_path = fs::JoinPath(volume_source, target_rel);
  RETURN_IF_ERROR(InCallerMountNamespace([&]() -> Status {
    // The volume's path is the caller's (trusted); below it the guest writes.
    UniqueFd volume(open(volume_source.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!volume.valid()) return ErrnoError("open the volume " + volume_source);
    ASSIGN_OR_RETURN(UniqueFd target, fs::OpenBeneath(volume.get(), target_rel));
    if (move_mount(tree.get(), "", target.get(), "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
      return ErrnoError("mount " + share_rel + " of the share on " + host_path);
    }
    return Status::Ok();
  }));
  return HostMirror{host_path, std::move(tree)};
}

Status Share::Unmirror(HostMirror& m) {
  if (!m.root.valid()) return Status::Ok();
  std::string by_fd = "/proc/self/fd/" + std::to_string(m.root.get());
  Status st = InCallerMountNamespace([&]() -> Status {
    // EINVAL: no longer a mount of this namespace (the host detached the
    // volume, or the guest's unmount was mirrored already).
    if (umount2(by_fd.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
      return ErrnoError("unmount the mirror on " + m.host_path);
    }
    return Status::Ok();
  });
  m.root.reset();
  return st;
}

Status Share::Destroy() const { return fs::RemoveTreeNoFollow(dir_); }

}  // namespace kata::sandbox
