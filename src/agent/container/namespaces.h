// Namespace types: OCI names, clone flags and /proc/<pid>/ns entries.
#pragma once

#include <string>

namespace kata::agent {

struct NamespaceType {
  const char* oci_name;   // "network"
  int clone_flag;         // CLONE_NEWNET
  const char* proc_name;  // "net"
};

// nullptr for a type the spec does not define.
const NamespaceType* FindNamespaceType(const std::string& oci_name);

// The order to join a running container's namespaces in (user excluded: a
// multithreaded process cannot join one; mount last, it changes the root).
extern const NamespaceType kJoinOrder[6];

}  // namespace kata::agent
