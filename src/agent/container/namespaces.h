// Namespace types (oci/namespace_types.h) and the order the launcher joins them in.
#pragma once

#include "oci/namespace_types.h"

namespace kata::agent {

using oci::FindNamespaceType;
using oci::NamespaceType;

// The order to join a running container's namespaces in (user excluded: a
// multithreaded process cannot join one; mount last, it changes the root).
extern const NamespaceType kJoinOrder[6];

}  // namespace kata::agent
