// Host block devices a container's spec names in linux.devices (podman
// --device /dev/loop0, a CRI device): each reaches the guest as a
// virtio-blk disk with a serial of ours, which the agent finds it by
// (agent/block_devices.h) and gives the guest's major:minor. Attached when
// the VM boots, so today only for the sandbox's first container (podman,
// docker, ctr run, kata-runtime: one container per sandbox); a container
// joining a running pod that names one is refused with an error saying so.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "vmm/hypervisor.h"

namespace kata::sandbox {

struct HostBlockDevice {
  std::string host_path;       // the host's node, e.g. /dev/loop5
  std::string container_path;  // the linux.devices entry's path
  unsigned major = 0, minor = 0;
};

// The spec's linux.devices entries of type "b", each with the host node of
// its number (/sys/dev/block/M:m). A number the host has no block device
// for is an error naming the entry. None for a privileged spec (one that
// allows every device): its list is the host's every device, the host's own
// disks included, which never go to a guest.
Result<std::vector<HostBlockDevice>> BlockDevicesOf(const nlohmann::json& spec,
                                                    const std::string& sys_dev_block = "/sys/dev/block");

// The VM's disks for `devices` (serials kata-blk-0, -1, ...).
std::vector<vmm::Drive> DrivesFor(const std::vector<HostBlockDevice>& devices);

}  // namespace kata::sandbox
