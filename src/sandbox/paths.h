// Host paths, Kata's layout so operators find things where they expect.
#pragma once

#include <string>

#include "common/guest_paths.h"

namespace kata::sandbox {

// Per-VM private dir: QMP and agent sockets, console log (0700).
inline std::string VmRunDir(const std::string& sid) { return "/run/vc/vm/" + sid; }
// Per-sandbox dir exported to the guest over virtio-9p (mount tag kataShared).
inline std::string SharedDir(const std::string& sid) {
  return "/run/kata-containers/shared/sandboxes/" + sid + "/shared";
}
inline std::string SharedSandboxDir(const std::string& sid) {
  return "/run/kata-containers/shared/sandboxes/" + sid;
}
// Guest side of the share: kGuestSharedDir, kDebugShell (common/guest_paths.h).
using kata::kDebugShell;
using kata::kGuestSharedDir;
// Console logs of sandboxes that failed, kept for diagnosis after cleanup.
inline constexpr const char* kFailedLogDir = "/var/log/kata-containers";

}  // namespace kata::sandbox
