// The namespace types the runtime-spec defines: OCI name, clone flag and
// /proc/<pid>/ns entry. One table for validation (host), the namespace-path
// check (host) and the launcher (guest).
#pragma once

#include <string>

namespace kata::oci {

struct NamespaceType {
  const char* oci_name;   // "network"
  int clone_flag;         // CLONE_NEWNET
  const char* proc_name;  // "net"
};

// nullptr for a type the spec does not define.
const NamespaceType* FindNamespaceType(const std::string& oci_name);

}  // namespace kata::oci
