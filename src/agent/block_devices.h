// Host block devices in the guest: the runtime gives each to the VM as a
// virtio-blk disk whose serial it chose (sandbox/block_devices.h); the
// agent finds the disk by that serial in sysfs, never by guessing a
// /dev/vdX name, and points the container's device entry at it.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace kata::agent {

struct GuestDisk {
  std::string name;  // "vdb"
  unsigned major = 0, minor = 0;
};

// The disk whose virtio serial is `serial` below `sys_block` (/sys/block),
// waiting up to `wait_ms` for it to appear (probing is asynchronous).
Result<GuestDisk> FindDiskBySerial(const std::string& serial, const std::string& sys_block = "/sys/block",
                                   int wait_ms = 5000);

struct BlockDeviceRef {
  std::string serial;
  std::string container_path;
  unsigned host_major = 0, host_minor = 0;
};

// `spec_json` with each referenced linux.devices entry, and each block
// rule of linux.resources.devices naming its host numbers, given the
// guest disk's numbers.
Result<std::string> WithGuestBlockDevices(const std::string& spec_json, const std::vector<BlockDeviceRef>& refs,
                                          const std::string& sys_block = "/sys/block", int wait_ms = 5000);

struct BlockMountRef {
  std::string serial;
  std::string fstype;  // ext4 | xfs
  std::vector<std::string> options;
  bool readonly = false;
  std::string guest_path;  // must be below `storage_dir`/<container id>/
  // The container's root (a block-device rootfs): mounted without nosuid
  // and nodev, as runc mounts a rootfs (its setuid programs work).
  bool root = false;
};

// `guest_path` is <storage_dir>/<container>/<name>, where the agent mounts
// block volumes: each of the two a plain name (no "/", ".", ".."). The
// container's name goes to `container` when given.
bool IsBlockVolumePath(const std::string& guest_path, const std::string& storage_dir, std::string* container = nullptr);

// Mounts each disk at its guest_path (the container's spec binds it from
// there). Options that are mount flags (noatime, ro, ...) become flags, the
// rest the file system's data. A guest_path outside `storage_dir`/`container_id`/ or a file
// system other than ext4/xfs is refused; a disk that does not mount (corrupt,
// not that file system) is an error naming its serial and the kernel's reason.
Status MountBlockVolumes(const std::string& container_id, const std::vector<BlockMountRef>& mounts,
                         const std::string& storage_dir, const std::string& sys_block = "/sys/block",
                         const std::string& dev_dir = "/dev", int wait_ms = 5000);
// A disk plugged in while the VM runs sits in a PCIe slot of its own:
// powering the slot off (as `echo 0 > /sys/bus/pci/slots/N/power` would)
// unplugs it from the VM (about a second later; this returns once the
// power-off started). Refused while the disk is mounted (in `mountinfo`)
// or when it is not in a hotplug slot.
Status PowerOffDiskSlot(const std::string& serial, const std::string& sys_block = "/sys/block",
                        const std::string& sys_slots = "/sys/bus/pci/slots",
                        const std::string& mountinfo = "/proc/self/mountinfo");

// Unmounts and removes `storage_dir`/`container_id` (nothing there: nothing to do).
void UnmountBlockVolumes(const std::string& container_id, const std::string& storage_dir);

}  // namespace kata::agent
