// runc's template config.json (`runc spec`): what `kata-runtime spec`
// writes, and the base of the VM cache's warm-up container.
#pragma once

#include <nlohmann/json.hpp>

namespace kata::oci {

nlohmann::json DefaultSpec();

}  // namespace kata::oci
