// The sandbox's side of the VM cache (sandbox/vm_cache.h).
#include <unistd.h>

#include "common/fs.h"
#include "sandbox/leftovers.h"
#include "sandbox/ownership.h"
#include "sandbox/vm_cache.h"
#include "sandbox/vm_cache_wire.h"
#include "vmm/vmm_process.h"

namespace kata::sandbox {
namespace {

// Longer than any id we make ("vmcache-<pid>-<n>"), well under NAME_MAX: the
// id names directories the taker renames.
constexpr size_t kMaxVmId = 128;

// The server is not trusted: the id becomes a path component under /run and
// the pid a process the taker adopts (and kills if that fails).
Status CheckTakeReply(const std::string& endpoint, const vmcache::TakeReply& reply) {
  // proto3 cannot tell an absent field from a zero one: both are refused.
  if (reply.vm_id().empty() || reply.pid() <= 0) {
    return Error(Code::kInternal, "VM cache at " + endpoint + " sent no vm_id and pid");
  }
  const std::string& id = reply.vm_id();
  if (id.size() > kMaxVmId || id.find('/') != std::string::npos || id[0] == '.' ||
      id.find('\0') != std::string::npos) {
    return Error(Code::kInternal, "VM cache at " + endpoint + " sent a bad VM id \"" + id.substr(0, kMaxVmId) + "\"");
  }
  return Status::Ok();
}

}  // namespace

Result<CachedVm> TakeCachedVm(const std::string& endpoint, const std::string& fingerprint) {
  vmcache::TakeRequest req;
  req.set_fingerprint(fingerprint);
  vmcache::TakeReply reply;
  RETURN_IF_ERROR(vmcache_wire::Call(endpoint, vmcache_wire::kTake, req, &reply));
  RETURN_IF_ERROR(CheckTakeReply(endpoint, reply));
  return CachedVm{reply.vm_id(), static_cast<pid_t>(reply.pid())};
}

Result<vmcache::StatusReply> AskVmCacheStatus(const std::string& endpoint, const std::string& fingerprint) {
  vmcache::StatusRequest req;
  req.set_fingerprint(fingerprint);
  vmcache::StatusReply reply;
  RETURN_IF_ERROR(vmcache_wire::Call(endpoint, vmcache_wire::kStatus, req, &reply));
  return reply;
}

Status QuitVmCache(const std::string& endpoint) {
  vmcache::QuitReply reply;
  return vmcache_wire::Call(endpoint, vmcache_wire::kQuit, vmcache::QuitRequest(), &reply);
}

bool CachedVmAlive(const CachedVm& vm) {
  auto cmdline = fs::ReadFile("/proc/" + std::to_string(vm.pid) + "/cmdline");
  return vm.pid > 0 && cmdline.ok() && cmdline->find("/" + vm.id + "/") != std::string::npos;
}

void DiscardCachedVm(const CachedVm& vm) {
  if (CachedVmAlive(vm)) {
    if (auto qemu = vmm::VmmProcess::Adopt(vm.pid, "QEMU of cached VM " + vm.id); qemu.ok()) {
      (*qemu)->Kill();
      (*qemu)->WaitExit(std::chrono::milliseconds(2000));
    }
  }
  (void)RemoveVmLeftovers(vm.id, kAnyOwner);
}

}  // namespace kata::sandbox
