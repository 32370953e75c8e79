// The VM cache (Kata's [factory] vm_cache_number and vm_cache_endpoint): a
// server, `kata-runtime factory init`, keeps that many VMs booted and warm,
// and hands one to each new sandbox over a unix socket instead of the
// sandbox booting its own.
//
// Warm matters under TCG: most of a cold container start is QEMU translating
// guest code that runs for the first time in that QEMU process (namespaces,
// mounts, cgroups, 9p, exec). Each cached VM therefore runs one throw-away
// container before it is cached, and the sandbox that takes it pays about
// what a container joining a running pod pays. With KVM the warm-up is cheap
// and the cache still saves the boot.
//
// Handover: the server starts each VMM detached (not its child, see
// VmSpec::detached), gives up its agent connection and watcher, and replies
// with the VM's id and pid; the VM is then the taker's (Sandbox::Boot renames
// the VM's directories to its own and adopts the VMM). A taker that fails to
// adopt a VM must DiscardCachedVm() it.
//
// Protocol: the VmCache ttrpc service of proto/vm_cache.proto, one call per
// connection (sandbox/vm_cache_wire.h):
//   Take(fingerprint F)      -> the VM's id and pid, or an error saying why not
//   Status([fingerprint F])  -> ready, size, last_error, warm[, mismatch]
//   Quit                     -> answered, then the server stops its VMs
// F is the TemplateFingerprint of the VM the taker wants; a cache whose VMs
// differ (kernel, initrd, QEMU, memory, vCPUs, kernel parameters) says so
// and the sandbox boots.
#pragma once

#include <functional>
#include <string>

#include "common/status.h"
#include "sandbox/sandbox.h"
#include "vm_cache.pb.h"

namespace kata::sandbox {

// Upstream Kata's default vm_cache_endpoint.
constexpr const char* kDefaultVmCacheEndpoint = "/var/run/kata-containers/cache.sock";

// Asks the cache at `endpoint` for a VM made like `fingerprint`.
Result<CachedVm> TakeCachedVm(const std::string& endpoint, const std::string& fingerprint);

// The cache's state; with a fingerprint, also whether a sandbox wanting such
// a VM would take its VMs (`mismatch`). Fails when no cache answers.
Result<vmcache::StatusReply> AskVmCacheStatus(const std::string& endpoint, const std::string& fingerprint = "");

// Asks the cache to stop; ok once it answered (it then stops its VMs).
Status QuitVmCache(const std::string& endpoint);

// The VM's QEMU is still there (its command line names the VM's id): a pid
// is not reused for something else that gets killed or adopted.
bool CachedVmAlive(const CachedVm& vm);

// Kills a VM that was handed out but not adopted and removes its directories.
void DiscardCachedVm(const CachedVm& vm);

struct VmCacheOptions {
  SandboxConfig shape;        // how each VM is made (the id is set per VM)
  int size = 1;               // VMs kept ready
  std::string endpoint;       // the unix socket to serve
  std::string warmup_binary;  // a static host binary that exits 0 on --version; "" = no warm-up
};

// Removes the idle VMs of cache servers that were killed (their QEMU
// outlives them); a new server does this when it starts.
void RemoveVmsOfDeadCaches();

// Serves until a quit request, SIGINT or SIGTERM; then stops the VMs it still
// holds and removes the socket. `on_listening` runs once the socket accepts
// (before the first VM is ready: takers then boot their own).
Status ServeVmCache(const VmCacheOptions& opts, const std::function<void()>& on_listening = nullptr);

}  // namespace kata::sandbox
