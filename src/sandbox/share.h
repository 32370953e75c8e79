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

namespace kata::sandbox {

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
  // Binds the host path `source` (resolved here, in the caller's mount
  // namespace: a symlink in it is followed, as runc does for mount sources)
  // at `rel` below mounts/ (e.g. "<cid>/rootfs"), in the mount namespace of
  // the VMM `vmm_pid`. Always nosuid and nodev; with `readonly`, read-only
  // all the way down (submounts included).
  Status Bind(pid_t vmm_pid, const std::string& source, const std::string& rel, bool readonly) const;
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
