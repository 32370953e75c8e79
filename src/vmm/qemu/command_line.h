// Builds QEMU's argv for a VmSpec. Pure function: unit-tested without QEMU.
#pragma once

#include <string>
#include <vector>

#include "vmm/hypervisor.h"

namespace kata::vmm::qemu {

struct RunPaths {
  std::string qmp_socket;
  std::string agent_socket;
  std::string console_log;
  std::string pid_file;
  std::string debug_console;  // with VmSpec::debug_console
};

RunPaths PathsFor(const VmSpec& spec);
std::vector<std::string> BuildCommandLine(const VmSpec& spec);

}  // namespace kata::vmm::qemu
