// Host paths, Kata's layout so operators find things where they expect.
#pragma once

#include <string>

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
// Where the guest agent mounts the share.
inline constexpr const char* kGuestSharedDir = "/run/kata-containers/shared/containers";
// The debug console's shell (agent/debug_console.h), relative to the share.
inline constexpr const char* kDebugShell = ".debug-console/busybox";
// Console logs of sandboxes that failed, kept for diagnosis after cleanup.
inline constexpr const char* kFailedLogDir = "/var/log/kata-containers";

}  // namespace kata::sandbox
