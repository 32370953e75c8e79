// [runtime] rootfs_image_in_guest: a container whose rootfs is an overlay
// on the host (podman's, Docker's and containerd's overlay storage) gets its
// image's read-only layers as one cached ext4 disk (rootfs_image_cache.h),
// and only the overlay's upper directory through the share. In the guest
// the agent stacks: its own memory on top (rootfs_writes_in_guest), the
// upper directory as the host had it at create, then the disk
// (agent/guest_rootfs.h). Looking names up and reading the image are then
// the guest's own work; under TCG a virtio-fs lookup is a ~0.35 ms round trip.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "config/config.h"

namespace kata::sandbox {

struct RootfsImageSettings {
  bool enabled = false;
  std::string cache_dir;
  uint64_t cache_limit_bytes = 0;
};
RootfsImageSettings RootfsImageSettingsFrom(const config::Config& cfg);

// The layers of the overlay mounted at `rootfs` (absolute, symlinks
// resolved) as `mountinfo` lists it. An error says why the rootfs cannot be
// split so (not an overlay, a path the kernel escaped, data-only layers, no
// upper directory): the caller shares it whole instead.
struct OverlayLayers {
  std::vector<std::string> lowers;  // top first, as lowerdir lists them
  std::string upper;
};
Result<OverlayLayers> OverlayLayersAt(const std::string& rootfs, const std::string& mountinfo);

// What the container's rootfs becomes in the guest, or nullopt when it is
// shared whole as before: the setting is off, the root is read-only, its
// rootfs is not a usable overlay, or the image could not be built (each
// logged with the reason; the container still runs).
struct RootfsImage {
  std::string image;  // the cached ext4 image of the lower layers
  std::string upper;  // the overlay's upper directory, shared read-only
};
std::optional<RootfsImage> RootfsImageFor(const RootfsImageSettings& settings, const nlohmann::json& spec,
                                          const std::string& bundle,
                                          const std::string& mountinfo_path = "/proc/self/mountinfo");

}  // namespace kata::sandbox
