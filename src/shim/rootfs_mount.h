// containerd hands the shim the rootfs as mounts (e.g. one overlay) to put on
// <bundle>/rootfs; OCI callers (podman, kata-runtime run) mount it themselves
// and send none.
#pragma once

#include <google/protobuf/repeated_ptr_field.h>

#include <string>

#include "common/status.h"
#include "task.pb.h"

namespace kata::shim {

using MountList = google::protobuf::RepeatedPtrField<containerd::task::v2::Mount>;

Status MountRootfs(const MountList& mounts, const std::string& bundle);
void UnmountRootfs(const MountList& mounts, const std::string& bundle);
void UnmountRootfsOf(const std::string& bundle);

}  // namespace kata::shim
