// Builds QEMU's argv for a VmSpec. Pure function: unit-tested without QEMU.
#pragma once

#include <cstdint>
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
  // With VmSpec::virtio_fs: the daemons listen, QEMU connects. [0] kataShared, [1] kataPropagated.
  std::string virtiofsd_socket[2];
  std::string virtiofsd_log[2];
};

RunPaths PathsFor(const VmSpec& spec);
// A VM that may grow (VmSpec::max_memory_mib) has all of it as RAM from
// boot; its kernel is told to use memory_mib (mem=) and the agent adds
// blocks above. Not a templated VM: its RAM is the template's file, made
// at memory_mib.
bool CanGrowMemory(const VmSpec& spec);
int BootRamMib(const VmSpec& spec);
// The guest memory block (x86_64: 128 MiB while the guest has < 64 GiB).
inline constexpr int kMemoryBlockMib = 128;
// The guest-physical addresses of the whole blocks of RAM between the
// guest's `from_mib` and `to_mib` (offsets in RAM, from the boot size up,
// within max_memory_mib), for the guest's memory probe interface.
// Where the blocks start for a guest of `from_mib`: its size (at least the
// boot size) rounded up to a block (a partial block is the kernel's already).
int FirstGrowableMib(const VmSpec& spec, int from_mib);
std::vector<uint64_t> MemoryBlockAddresses(const VmSpec& spec, int from_mib, int to_mib);
std::vector<std::string> BuildCommandLine(const VmSpec& spec);
// How many disk hotplug slots the machine gets (VmSpec::hotplug_slots, or
// none on a machine type without PCIe).
int HotplugSlotCount(const VmSpec& spec);
// The QEMU id of hotplug slot `slot` (0 ..< VmSpec::hotplug_slots).
std::string HotplugSlotId(int slot);

}  // namespace kata::vmm::qemu
