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

}  // namespace kata::agent
