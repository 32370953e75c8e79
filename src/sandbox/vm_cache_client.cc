// The sandbox's side of the VM cache (sandbox/vm_cache.h).
#include <unistd.h>

#include "common/json_parse.h"
#include "common/fs.h"
#include "sandbox/leftovers.h"
#include "sandbox/ownership.h"
#include "sandbox/vm_cache.h"
#include "sandbox/vm_cache_wire.h"
#include "ttrpc/socket.h"
#include "vmm/vmm_process.h"

namespace kata::sandbox {

using nlohmann::json;
using vmcache::kIoTimeout;
using vmcache::ReadLine;
using vmcache::WriteLine;

Result<json> AskVmCache(const std::string& endpoint, const json& request) {
  auto fd = ttrpc::DialUnix(endpoint);
  if (!fd.ok()) {
    return Error(Code::kUnavailable, "no VM cache answers at " + endpoint + " (" + fd.status().message() +
                                         "; start one with `kata-runtime factory init`)");
  }
  Status st = WriteLine(*fd, request.dump());
  Result<std::string> line = st.ok() ? ReadLine(*fd, kIoTimeout) : Result<std::string>(st);
  close(*fd);
  if (!line.ok()) return line.status().Wrap("VM cache at " + endpoint);
  json reply = ParseJsonBounded(*line, "VM cache reply").value_or(json());
  if (!reply.is_object()) return Error(Code::kInternal, "VM cache at " + endpoint + " sent a reply that is not JSON");
  if (reply.contains("error")) return Error(Code::kUnavailable, "VM cache at " + endpoint + ": " + reply.value("error", ""));
  return reply;
}

Result<CachedVm> TakeCachedVm(const std::string& endpoint, const std::string& fingerprint) {
  ASSIGN_OR_RETURN(json reply, AskVmCache(endpoint, {{"op", "take"}, {"fingerprint", fingerprint}}));
  if (!reply.contains("vm_id") || !reply["vm_id"].is_string() || !reply.contains("pid") || !reply["pid"].is_number_integer()) {
    return Error(Code::kInternal, "VM cache at " + endpoint + " sent no vm_id and pid");
  }
  CachedVm vm{reply["vm_id"].get<std::string>(), reply["pid"].get<pid_t>()};
  if (vm.id.find('/') != std::string::npos || vm.id.empty() || vm.id[0] == '.') {
    return Error(Code::kInternal, "VM cache at " + endpoint + " sent a bad VM id \"" + vm.id + "\"");
  }
  return vm;
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
