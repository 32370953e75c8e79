#include "vmm/virtiofsd.h"

#include <linux/capability.h>
#include <unistd.h>

#include <signal.h>
#include <sys/syscall.h>

#include <sstream>

#include "common/fs.h"
#include "common/process_identity.h"
#include "common/unique_fd.h"
#include "common/unix_socket.h"

namespace kata::vmm {
namespace {

// What virtiofsd needs: CAP_SYS_ADMIN to build its sandbox (unshare, mounts,
// pivot_root), CAP_SETPCAP to then drop its own capabilities, CAP_SYS_RESOURCE
// to raise its open-file limit (one O_PATH fd per inode the guest looks up),
// and the file capabilities it serves the guest's root with. It keeps only
// the last group once its sandbox is up.
const std::vector<int> kVirtiofsdCapabilities = {CAP_SYS_ADMIN, CAP_SETPCAP, CAP_SYS_RESOURCE, CAP_CHOWN,
                                                 CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_SETGID,
                                                 CAP_SETUID, CAP_SETFCAP};

// The children of `pid` (its only thread's), as pidfds.
std::vector<UniqueFd> ChildrenOf(pid_t pid) {
  std::vector<UniqueFd> out;
  std::string p = std::to_string(pid);
  auto text = fs::ReadFile("/proc/" + p + "/task/" + p + "/children");
  if (!text.ok()) return out;
  std::istringstream in(*text);
  for (pid_t child; in >> child;) {
    UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_open, child, 0)));
    if (fd.valid()) out.push_back(std::move(fd));
  }
  return out;
}

}  // namespace

void StopVirtiofsd(VmmProcess& daemon, std::chrono::milliseconds timeout) {
  // Read while the parent lives: until it has reaped them, no child's pid can be reused.
  std::vector<UniqueFd> servers = daemon.exited() ? std::vector<UniqueFd>{} : ChildrenOf(daemon.pid());
  for (const UniqueFd& s : servers) proc::PidfdSendSignal(s.get(), SIGKILL);
  daemon.Kill();
  daemon.WaitExit(timeout);
  for (const UniqueFd& s : servers) proc::WaitPidfdExit(s.get(), timeout);
}

std::string VirtiofsdCacheMode(const std::string& kata_mode) { return kata_mode == "never" ? "none" : kata_mode; }

std::vector<std::string> VirtiofsdCommandLine(const VirtioFsSpec& fs, const std::string& shared_dir, Export e) {
  bool shared = e == Export::kShared;
  std::vector<std::string> argv = {
      fs.daemon,
      // A socket we made: with --socket-path it would also write a pid file
      // under /run/virtiofsd that a killed daemon leaves behind.
      "--fd=3",
      "-o", "source=" + shared_dir,
      "-o", "cache=" + (shared ? VirtiofsdCacheMode(fs.cache) : std::string("none")),
      "-o", "sandbox=namespace",
      // No device node the guest makes reaches the host (CAP_MKNOD is not
      // in its bounding set either).
      "-o", "modcaps=-mknod",
  };
  // Each bind below the share (a rootfs, a volume) its own mount in the
  // guest, with its own st_dev: inode numbers of two binds never collide
  // there. Not in the propagated export: a guest submount, like a cached
  // entry, pins the host mount below a volume, which the host then cannot
  // unmount (EBUSY).
  if (shared) argv.insert(argv.end(), {"-o", "announce_submounts"});
  argv.insert(argv.end(), fs.extra_args.begin(), fs.extra_args.end());
  return argv;
}

Result<std::unique_ptr<VmmProcess>> StartVirtiofsd(const VmSpec& spec, Export e, int mount_ns_fd,
                                                   const std::string& socket_path, const std::string& log_path) {
  ASSIGN_OR_RETURN(int fd, ListenUnix(socket_path));
  UniqueFd listener(fd);
  VmmLaunch l;
  l.argv = VirtiofsdCommandLine(spec.virtio_fs, spec.shared_dir, e);
  l.log_path = log_path;
  l.name = std::string(e == Export::kShared ? "virtiofsd" : "virtiofsd (propagated export)") + " of sandbox " + spec.id;
  l.confinement.keep_caps = kVirtiofsdCapabilities;
  l.mount_ns_fd = mount_ns_fd;
  l.pass_fds = {listener.get()};
  return VmmProcess::StartChild(l);
}

}  // namespace kata::vmm
