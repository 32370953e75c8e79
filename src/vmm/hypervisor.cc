#include "vmm/hypervisor.h"

#include "vmm/qemu/qemu.h"

namespace kata::vmm {

Result<std::unique_ptr<Hypervisor>> NewHypervisor(const std::string& kind) {
  if (kind == "qemu") return std::unique_ptr<Hypervisor>(new qemu::Qemu());
  return Error(Code::kInvalidArgument, "hypervisor \"" + kind + "\" is not supported (supported: qemu)");
}

}  // namespace kata::vmm
