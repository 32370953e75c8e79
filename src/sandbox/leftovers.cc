#include "sandbox/leftovers.h"

#include "common/fs.h"
#include "common/process.h"
#include "sandbox/network_record.h"
#include "sandbox/paths.h"
#include "sandbox/share.h"

namespace kata::sandbox {

Status RemoveVmLeftovers(const std::string& id) {
  std::string vm_dir = VmRunDir(id);
  proc::KillAndWait(proc::LiveProcess(proc::ReadPidFile(fs::JoinPath(vm_dir, "qemu.pid")), "qemu"), "QEMU of sandbox " + id);
  Status first;
  for (const Status& st : {UndoNetworkRecord(vm_dir), Share(SharedSandboxDir(id)).Destroy(), fs::RemoveAll(vm_dir)}) {
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

}  // namespace kata::sandbox
