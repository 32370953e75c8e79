// Host block devices a container's spec names in linux.devices (podman
// --device /dev/loop0, a CRI device): each reaches the guest as a
// virtio-blk disk with a serial of ours, which the agent finds it by
// (agent/block_devices.h) and gives the guest's major:minor. The first
// container's are attached when the VM boots; a container joining a
// running pod gets its disks plugged in (Sandbox::DiskFor).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "sandbox/rootfs_source.h"
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

// A spec mount the guest mounts from a disk instead of seeing it through the
// share: a bind of a direct volume's path (sandbox/direct_volume.h), or a
// mount of type ext4/xfs whose source is a host block device (containerd's
// devmapper snapshots look so).
struct HostBlockMount {
  size_t index = 0;       // in spec.mounts
  std::string host_path;  // the disk: a block device or an image file
  bool block_device = true;
  std::string fstype;     // ext4 | xfs
  std::vector<std::string> options;
  bool readonly = false;
  std::string direct_volume;  // the volume path it is registered for; "" if not one
};
// A mount of `type` ext4 or xfs whose `source` is a host block device: the
// guest mounts those itself (a spec mount here, a containerd rootfs in
// shim/rootfs_mount.h), never the host.
bool IsGuestBlockMount(const std::string& type, const std::string& source);
Result<std::vector<HostBlockMount>> BlockMountsOf(const nlohmann::json& spec,
                                                  const std::string& direct_volume_root = "/run/kata-containers/shared/direct-volumes");

// At most this many disks per VM: each is a virtio transport of the
// machine's few (microvm has 24, the VM's own devices take up to 8).
inline constexpr size_t kMaxDisks = 8;

// The VM's disks: `devices` (serials kata-blk-0, -1, ...), then `mounts`
// (kata-vol-0, ...), then the rootfs's disk if it has one (kata-root-0;
// sandbox/rootfs_source.h). More than kMaxDisks is an error saying how many.
Result<std::vector<vmm::Drive>> DrivesFor(const std::vector<HostBlockDevice>& devices,
                                          const std::vector<HostBlockMount>& mounts = {},
                                          const RootfsSource& rootfs = {});

}  // namespace kata::sandbox
