// The OCI state of a container as `state` and `list` report it.
#pragma once

#include <string>

#include "cli/options.h"
#include "common/status.h"
#include "oci/state.h"

namespace kata::cli {

// The sandbox service is the authority on status; a record whose service is
// gone describes a container that has stopped.
Result<oci::State> CurrentState(const GlobalOptions& g, const std::string& id);

}  // namespace kata::cli
