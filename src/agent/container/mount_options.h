// OCI mount options ("ro", "nosuid", "rbind", "mode=755", ...) -> mount(2)
// flags, propagation changes and the filesystem data string.
#pragma once

#include <string>
#include <vector>

namespace kata::agent {

struct MountOptions {
  unsigned long flags = 0;               // MS_* except propagation; MS_BIND/MS_REC for (r)bind
  std::vector<unsigned long> propagation;  // MS_PRIVATE|MS_REC etc., applied after the mount
  std::string data;                      // everything mount(2) does not know, comma-joined
  bool bind = false;
  bool recursive = false;                // rbind
  bool tmpcopyup = false;                // runc/crun extension (not applied yet)
};

// Unknown options become filesystem data (mount(2) rejects what the
// filesystem does not know, naming the mount).
MountOptions ParseMountOptions(const std::vector<std::string>& options);

// Propagation keyword -> flags (MS_PRIVATE, MS_REC|MS_SLAVE, ...); 0 if not one.
unsigned long PropagationFlags(const std::string& name);

}  // namespace kata::agent
