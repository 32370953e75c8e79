// What confines a VMM process, applied between fork and exec (so it holds
// from the VMM's first instruction): a mount namespace of its own in which
// the guest's share is a read-only view, and only the capabilities it needs.
// docs/security.md says what each part stops.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace kata::vmm {

struct Confinement {
  // The share (VmSpec::share_source_dir / shared_dir). In the VMM's own mount
  // namespace (a slave of ours: host mounts still show through, its own never
  // leak out) `exported` becomes a read-only, nosuid, nodev view of `source`,
  // and `source` a shared mount: a bind the host attaches below `source`
  // later, from inside this namespace (sandbox/share.h), appears below
  // `exported` with its own flags. The guest can write into such binds but
  // never into the share's own directories, where the host works.
  // Both empty: the VMM keeps its parent's mount namespace.
  std::string share_source;
  std::string share_exported;
  // Capabilities (CAP_*) kept; every other one leaves the bounding set, so
  // the VMM (root) never has it, and no_new_privs is set.
  std::vector<int> keep_caps;
};

// A SpawnOptions::before_exec that applies `c` in the child. It writes
// what failed to the child's stderr (the VMM's log) and returns the errno.
std::function<int()> ConfineInChild(const Confinement& c);

}  // namespace kata::vmm
