// containerd's runtime options (CreateTaskRequest.options): a config_path
// there is the configuration file for the sandbox that container starts,
// as in Kata (`ctr run --runtime-config-path F`, or the CRI plugin's
// `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata.options]
// ConfigPath = "F"`), ahead of KATA_CONF_FILE and the default locations.
#pragma once

#include <optional>

#include "common/status.h"
#include "config/config.h"
#include "wkt.pb.h"

namespace kata::shim {

// The configuration `options` names, nullopt when they name none (no
// options, another type, an empty path). A path that does not load is an
// error naming it and the option.
Result<std::optional<config::LoadedConfig>> ConfigFromRuntimeOptions(const wkt::Any& options);

}  // namespace kata::shim
