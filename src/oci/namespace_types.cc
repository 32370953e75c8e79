#include "oci/namespace_types.h"

#include <sched.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace kata::oci {
namespace {

const NamespaceType kTypes[] = {
    {"pid", CLONE_NEWPID, "pid"},          {"network", CLONE_NEWNET, "net"},
    {"mount", CLONE_NEWNS, "mnt"},         {"ipc", CLONE_NEWIPC, "ipc"},
    {"uts", CLONE_NEWUTS, "uts"},          {"user", CLONE_NEWUSER, "user"},
    {"cgroup", CLONE_NEWCGROUP, "cgroup"}, {"time", CLONE_NEWTIME, "time"},
};

}  // namespace

const NamespaceType* FindNamespaceType(const std::string& oci_name) {
  for (const NamespaceType& t : kTypes) {
    if (oci_name == t.oci_name) return &t;
  }
  return nullptr;
}

}  // namespace kata::oci
