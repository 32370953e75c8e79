// virtiofsd, the host half of a VM's virtio-fs share (VmSpec::virtio_fs):
// one per VM, started before the VMM, in the VM's share namespace
// (vmm/share_namespace.h), serving shared_dir on a socket the VMM connects to.
// Confined as far as it allows: its own sandbox (sandbox=namespace: new
// mount, pid and network namespaces, pivot_root into the share), a bounding
// set of only the capabilities it needs to set that up and serve files (no
// CAP_MKNOD: no device node the guest makes reaches the host), no_new_privs,
// and its own seccomp filter. It dies with the thread that started it
// (PR_SET_PDEATHSIG), as the VMM does.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "vmm/hypervisor.h"
#include "vmm/vmm_process.h"

namespace kata::vmm {

// virtiofsd's own words for Kata's cache modes (never -> none).
std::string VirtiofsdCacheMode(const std::string& kata_mode);

// Which export: the share as `fs.cache` says, each host mount its own guest
// mount (kataShared); or uncached, without submounts (kataPropagated).
enum class Export { kShared, kPropagated };

// Its command line, serving `shared_dir` on fd 3 (a listening socket).
std::vector<std::string> VirtiofsdCommandLine(const VirtioFsSpec& fs, const std::string& shared_dir, Export e);

// Listens on `socket_path` and starts virtiofsd on it in the mount namespace
// `mount_ns_fd`; the socket accepts the VMM's connection from then on.
Result<std::unique_ptr<VmmProcess>> StartVirtiofsd(const VmSpec& spec, Export e, int mount_ns_fd,
                                                   const std::string& socket_path, const std::string& log_path);

// Kills virtiofsd and the child in its own pid namespace that serves the
// files (which a killed parent only ends by PR_SET_PDEATHSIG, a moment
// later), and waits up to `timeout` for both: nothing of the sandbox's
// outlives its stop.
void StopVirtiofsd(VmmProcess& daemon, std::chrono::milliseconds timeout);

}  // namespace kata::vmm
