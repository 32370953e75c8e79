// The guest's side of `kata-runtime direct-volume stats|resize`: the file
// system of a block volume the agent mounted for a container
// (block_devices.h, MountBlockVolumes), asked for its usage or grown to fill
// its disk once the VMM made the disk larger.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace kata::agent {

struct VolumeFigures {
  uint64_t bytes_total = 0, bytes_available = 0, bytes_used = 0;
  uint64_t inodes_total = 0, inodes_available = 0, inodes_used = 0;
};

// `guest_path` must be a block volume's path (block_devices.h
// IsBlockVolumePath) and a mount point; anything else is refused by name
// (InvalidArgument for another path, NotFound when nothing is mounted).
Status CheckVolumePath(const std::string& guest_path, const std::string& storage_dir);

// statvfs of the volume's file system: what `df` would print for it.
Result<VolumeFigures> VolumeUsage(const std::string& guest_path);

// Grows the ext4 or xfs file system mounted at `guest_path` online to
// `size` bytes (rounded down to its block size), once its disk is that
// large: the VMM's resize reaches the guest asynchronously, so this waits up
// to `wait_ms` for the disk's capacity in `sys_dev_block`/M:m/size.
// Shrinking, and other file systems, are refused with the reason.
Status GrowVolume(const std::string& guest_path, uint64_t size, const std::string& sys_dev_block = "/sys/dev/block",
                  int wait_ms = 5000);

}  // namespace kata::agent
