// A container rootfs whose writes stay in the guest (configuration key
// [runtime] rootfs_writes_in_guest): the image the host shares becomes the
// read-only lower layer of an overlay whose upper layer is guest memory
// (a tmpfs per container). Every file the container creates, changes or
// removes is then the guest's own work, with no round trip to the host's
// file server; reading the image still goes through the share, unless the
// host gave the image as a disk too (rootfs_image_in_guest).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace kata::agent {

// Mounts the overlay for `container_id` below `base_dir` (tmpfs at
// base_dir/<id>, the overlay at base_dir/<id>/merged) over `lowers` (top
// first: the shared rootfs, or the host's upper directory above the image
// disk of rootfs_image_path), and returns the merged path to use as the
// container's root. The upper layer's root takes the owner and mode of the
// top lower's, so that the merged root looks like the image's.
Result<std::string> MountGuestUpper(const std::string& container_id, const std::vector<std::string>& lowers,
                                    const std::string& base_dir);

// Detaches both mounts and removes the directories (nothing there: nothing to do).
void UnmountGuestUpper(const std::string& container_id, const std::string& base_dir);

}  // namespace kata::agent
