// The sandbox's shared directory, the virtio-9p export kataShared, in Kata's
// layout:
//   SharedSandboxDir(id)/mounts  where the host attaches what the guest shares
//   SharedSandboxDir(id)/shared  the export: in the VMM's mount namespace a
//                                read-only view of mounts/ (vmm/confinement.h)
// The guest can write into what is bound below it (a container's rootfs, a
// volume) but never into the share's own directories, so it cannot plant a
// symlink or fill host memory where the host works. Binds are attached in the
// VMM's mount namespace (entered by a short-lived thread): only the VMM sees
// them, and they vanish with it, whoever dies first. Every step below the
// share is fd-relative and refuses symlinks.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace kata::sandbox {

// Keeps the mount namespace this process runs in now, before the service
// unshares its own: the caller's (containerd's, podman's). A volume's source
// is a path in that namespace, and only there does it take part in the
// host's propagation: the service's namespace is a slave of it, which on a
// host whose root mount is private (no "shared:" in mountinfo) receives
// nothing made after the service started, so a hostPath mount made after
// the pod (critest's rslave case) would be missed. Without it, Bind uses
// its own namespace.
Status RememberCallerMountNamespace();

// A guest mount mirrored on the host (Share::MirrorOnHost).
struct HostMirror {
  std::string host_path;  // for messages
  UniqueFd root;          // the mount's root: unmounted by it, never by path
};

class Share {
 public:
  Share() = default;
  explicit Share(std::string sandbox_dir);

  const std::string& dir() const { return dir_; }
  std::string source_dir() const { return dir_ + "/mounts"; }
  std::string exported_dir() const { return dir_ + "/shared"; }

  // Creates the directories (before the VMM starts); AlreadyExists if the
  // sandbox's directory exists (another sandbox's).
  Status Create() const;
  // Where Bind resolves `source`: this process's mount namespace (the
  // service's own, where it mounted the container's rootfs), or the one it
  // was started in (RememberCallerMountNamespace).
  enum class From { kOwnNamespace, kCallerNamespace };
  // Binds the host path `source` (a symlink in it is followed, as runc does
  // for mount sources) at `rel` below mounts/ (e.g. "<cid>/rootfs"), in the
  // mount namespace of the VMM `vmm_pid`. Always nosuid and nodev; with
  // `readonly`, read-only all the way down (submounts included). The bind
  // keeps the source's propagation: a volume the host made shared or slave
  // receives the host's later mounts (rslave, rshared host-to-container).
  Status Bind(pid_t vmm_pid, const std::string& source, const std::string& rel, bool readonly,
              From from = From::kOwnNamespace) const;
  // A Bidirectional volume's guest mount on the host: the directory
  // `share_rel` of the share (as the guest names it: below mounts/ in the
  // VMM's namespace) bound, nosuid and nodev, on `target_rel` below the host
  // directory `volume_source` in the caller's mount namespace. Both relative
  // paths are the guest's word: resolved beneath, no symlink followed.
  Result<HostMirror> MirrorOnHost(pid_t vmm_pid, const std::string& share_rel, const std::string& volume_source,
                                  const std::string& target_rel) const;
  // Unmounts a mirror (gone already: nothing to do).
  static Status Unmirror(HostMirror& m);
  // Detaches every bind below mounts/<top> in the VMM's namespace, then
  // removes mounts/<top>. Nothing there: nothing to do.
  Status Unbind(pid_t vmm_pid, const std::string& top) const;
  // Removes the whole tree, once the VMM is gone or going (its namespace,
  // and with it every bind, goes with it).
  Status Destroy() const;

 private:
  std::string dir_;
};

}  // namespace kata::sandbox
