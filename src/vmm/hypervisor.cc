#include "vmm/hypervisor.h"

#include <map>
#include <mutex>

#include "vmm/qemu/qemu.h"

namespace kata::vmm {
namespace {

// Sandboxes boot from any thread (the shim's requests): guarded.
std::mutex& RegistryMutex() {
  static std::mutex mu;
  return mu;
}

std::map<std::string, HypervisorFactory>& Registry() {
  static std::map<std::string, HypervisorFactory> registry;
  return registry;
}

}  // namespace

void RegisterHypervisor(const std::string& kind, HypervisorFactory factory) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  if (factory) {
    Registry()[kind] = std::move(factory);
  } else {
    Registry().erase(kind);
  }
}

Result<std::unique_ptr<Hypervisor>> NewHypervisor(const std::string& kind) {
  std::string supported = "qemu";
  HypervisorFactory registered;
  {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    auto it = Registry().find(kind);
    if (it != Registry().end()) registered = it->second;
    for (const auto& [name, factory] : Registry()) {
      if (name != "qemu") supported += ", " + name;
    }
  }
  // Called unlocked: a factory may itself look up or register backends.
  if (registered) return registered();
  if (kind == "qemu") return std::unique_ptr<Hypervisor>(new qemu::Qemu());
  return Error(Code::kInvalidArgument, "hypervisor \"" + kind + "\" is not supported (supported: " + supported + ")");
}

}  // namespace kata::vmm
