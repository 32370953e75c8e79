// Host-side check of linux.namespaces[].path: each must name a namespace of
// its declared type (runc refuses a mismatch; the runtime-tools validation
// suite checks it). Separate from ValidateSpec, which looks at content only.
#pragma once

#include "common/status.h"
#include "oci/spec.h"

namespace kata::oci {

Status CheckNamespacePaths(const Spec& spec);

}  // namespace kata::oci
