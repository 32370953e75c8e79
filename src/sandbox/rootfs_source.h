// How a container's rootfs reaches the guest when it is not shared whole
// through the share (sandbox/share.h):
// - `image`: its overlay's lower layers as a cached read-only ext4 disk,
//   below its upper directory (rootfs_image.h, [runtime] rootfs_image_in_guest);
// - `block`: it is a host block device (containerd's devmapper snapshots:
//   one ext4 or xfs mount of /dev/...), given to the VM as a disk that the
//   agent mounts as the container's root. The host never mounts it: the
//   guest's file system is not the host's to read (a hostile guest could
//   craft it), and writes go to the device, as with runc.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "sandbox/rootfs_image.h"
#include "vmm/hypervisor.h"

namespace kata::sandbox {

struct BlockRootfs {
  std::string device;  // the host's block device node
  std::string fstype;  // ext4 | xfs
  std::vector<std::string> options;  // mount options for the guest (data and flags as words, "ro" among them)
  bool readonly = false;
};

struct RootfsSource {
  std::optional<RootfsImage> image;
  std::optional<BlockRootfs> block;
};

// The rootfs directory the spec names, on the host: root.path, relative
// to the bundle unless absolute.
inline std::string HostRootfsPath(const nlohmann::json& spec, const std::string& bundle) {
  std::string rootfs = spec.contains("root") && spec["root"].is_object() ? spec["root"].value("path", "") : "";
  return rootfs.empty() || rootfs[0] != '/' ? fs::JoinPath(bundle, rootfs) : rootfs;
}

// The disk a VM booting for this rootfs gets (serial kata-root-0), or
// nullopt when it is shared whole. The image is read-only for the VMM too:
// other sandboxes use the same file.
inline std::optional<vmm::Drive> RootfsDrive(const RootfsSource& r) {
  if (r.block) return vmm::Drive{"root0", r.block->device, "kata-root-0", true, r.block->readonly};
  if (r.image) return vmm::Drive{"root0", r.image->image, "kata-root-0", false, true};
  return std::nullopt;
}

}  // namespace kata::sandbox
