// A container whose spec asks for a read-only root gets its rootfs bound
// read-only into the share (sandbox/share.h), so a guest that ignores the
// flag still cannot write the host's files. The agent then cannot create a
// missing mount point in it, as it does for other containers: the host
// creates those first, as runc does before it makes the root read-only.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace kata::sandbox {

// Creates in `rootfs`, resolving every path inside it (a symlink in the
// image never leads out), each mount destination of `spec` that is missing
// and lies on the rootfs itself (not inside an earlier mount, where the
// agent creates it), and the process's working directory: directories, or
// empty files for binds of a file.
Status PrepareReadonlyRoot(const std::string& rootfs, const nlohmann::json& spec);

}  // namespace kata::sandbox
