#include "agent/container/namespaces.h"

#include <sched.h>

namespace kata::agent {

const NamespaceType kJoinOrder[6] = {
    {"ipc", CLONE_NEWIPC, "ipc"},       {"uts", CLONE_NEWUTS, "uts"}, {"network", CLONE_NEWNET, "net"},
    {"cgroup", CLONE_NEWCGROUP, "cgroup"}, {"pid", CLONE_NEWPID, "pid"}, {"mount", CLONE_NEWNS, "mnt"},
};

}  // namespace kata::agent
