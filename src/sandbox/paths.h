// Host paths, Kata's layout so operators find things where they expect.
#pragma once

#include <string>

#include "common/guest_paths.h"

namespace kata::sandbox {

// Per-VM private dir: QMP and agent sockets, console log (0700).
inline std::string VmRunDir(const std::string& sid) { return "/run/vc/vm/" + sid; }
// The sandbox's host cgroup directories (sandbox/host_cgroup.h), for cleanup after a crash.
inline std::string HostCgroupRecord(const std::string& run_dir) { return run_dir + "/host-cgroup"; }
// Seconds the sandbox took to start (kata-monitor's boot time histogram).
inline std::string BootTimeRecord(const std::string& run_dir) { return run_dir + "/boot-seconds"; }
// The process running the sandbox (proc::ToText), for kata-monitor's kata_shim_* figures.
inline std::string ServiceRecord(const std::string& run_dir) { return run_dir + "/service"; }
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
