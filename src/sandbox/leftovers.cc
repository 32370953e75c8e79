#include "sandbox/leftovers.h"

#include <signal.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/process_identity.h"
#include "sandbox/host_cgroup.h"
#include "sandbox/network_record.h"
#include "sandbox/ownership.h"
#include "sandbox/paths.h"
#include "sandbox/share.h"

namespace kata::sandbox {

Status RemoveVmLeftovers(const std::string& id, const std::string& owner) {
  std::string vm_dir = VmRunDir(id);
  if (!fs::Exists(vm_dir)) return Status::Ok();
  UniqueFd lock;
  if (std::string why = WhyNotMine(vm_dir, owner, &lock); !why.empty()) {
    log::Info("leaving the VM directories of sandbox " + id + " alone: " + why);
    return Status::Ok();
  }
  if (auto vmm = RecordedVmm(vm_dir); vmm.ok()) {
    if (Status st = proc::StopVerified(*vmm, "", SIGKILL, std::chrono::seconds(5)); !st.ok()) {
      log::Warn("the VMM of sandbox " + id + ": " + st.message());
    }
  }
  Status first;
  auto cgroup = HostCgroup::Recorded(HostCgroupRecord(vm_dir));
  for (const Status& st : {cgroup.ok() ? cgroup->Remove() : Status::Ok(), UndoNetworkRecord(vm_dir), Share(SharedSandboxDir(id)).Destroy(), fs::RemoveAll(vm_dir)}) {
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

}  // namespace kata::sandbox
