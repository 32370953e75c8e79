// Paths in the guest that the runtime and the agent must agree on.
#pragma once

namespace kata {

// Where the agent mounts the sandbox's virtio-9p share (mount tag kataShared).
inline constexpr const char* kGuestSharedDir = "/run/kata-containers/shared/containers";
// The debug console's shell, relative to the share (agent/debug_console.h).
inline constexpr const char* kDebugShell = ".debug-console/busybox";

}  // namespace kata
