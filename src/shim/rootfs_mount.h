// containerd hands the shim the rootfs as mounts (e.g. one overlay) to put on
// <bundle>/rootfs; OCI callers (podman, kata-runtime run) mount it themselves
// and send none.
#pragma once

#include <google/protobuf/repeated_ptr_field.h>

#include <optional>
#include <string>

#include "common/status.h"
#include "sandbox/rootfs_source.h"
#include "task.pb.h"

namespace kata::shim {

using MountList = google::protobuf::RepeatedPtrField<containerd::task::v2::Mount>;

Status MountRootfs(const MountList& mounts, const std::string& bundle);
// The rootfs when it is one ext4 or xfs mount of a host block device (what
// containerd's devmapper snapshotter gives): the guest mounts it
// (sandbox/rootfs_source.h) and the shim does not. nullopt otherwise.
std::optional<sandbox::BlockRootfs> BlockRootfsOf(const MountList& mounts);
void UnmountRootfs(const MountList& mounts, const std::string& bundle);
void UnmountRootfsOf(const std::string& bundle);

}  // namespace kata::shim
