// What confines a VMM process, applied between fork and exec (so it holds
// from the VMM's first instruction): only the capabilities it needs. (Its
// mount namespace, where the guest's share is a read-only view, is made
// before: vmm/share_namespace.h.)
// docs/security.md says what each part stops.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace kata::vmm {

struct Confinement {
  // Capabilities (CAP_*) kept; every other one leaves the bounding set, so
  // the VMM (root) never has it, and no_new_privs is set.
  std::vector<int> keep_caps;
};

// A SpawnOptions::before_exec that applies `c` in the child. It writes
// what failed to the child's stderr (the VMM's log) and returns the errno.
std::function<int()> ConfineInChild(const Confinement& c);

}  // namespace kata::vmm
