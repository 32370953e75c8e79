#include "agent/container/namespaces.h"

#include <sched.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace kata::agent {
namespace {

const NamespaceType kTypes[] = {
    {"pid", CLONE_NEWPID, "pid"},          {"network", CLONE_NEWNET, "net"},
    {"mount", CLONE_NEWNS, "mnt"},         {"ipc", CLONE_NEWIPC, "ipc"},
    {"uts", CLONE_NEWUTS, "uts"},          {"user", CLONE_NEWUSER, "user"},
    {"cgroup", CLONE_NEWCGROUP, "cgroup"}, {"time", CLONE_NEWTIME, "time"},
};

}  // namespace

const NamespaceType kJoinOrder[6] = {
    {"ipc", CLONE_NEWIPC, "ipc"},       {"uts", CLONE_NEWUTS, "uts"}, {"network", CLONE_NEWNET, "net"},
    {"cgroup", CLONE_NEWCGROUP, "cgroup"}, {"pid", CLONE_NEWPID, "pid"}, {"mount", CLONE_NEWNS, "mnt"},
};

const NamespaceType* FindNamespaceType(const std::string& oci_name) {
  for (const NamespaceType& t : kTypes) {
    if (oci_name == t.oci_name) return &t;
  }
  return nullptr;
}

}  // namespace kata::agent
