// Child side: capabilities and seccomp. NOT IMPLEMENTED YET (next milestone):
// these are the hook points, called in the right order, that do nothing now.
//
// Plan for the implementation:
//  - BuildProcessPlan turns process.capabilities into cap numbers (unknown
//    names: error there, in the parent) and compiles linux.seccomp with
//    libseccomp into a BPF program (seccomp_export_bpf) stored in the plan:
//    libseccomp allocates, so it cannot run in the child.
//  - PrepareCapabilities (before the uid/gid switch): PR_CAPBSET_DROP every
//    cap not in `bounding`, PR_SET_KEEPCAPS 1.
//  - ApplyCapabilities (after the switch): capset(effective, permitted,
//    inheritable), PR_CAP_AMBIENT_RAISE each ambient cap.
//  - ApplySeccomp (last before execve, after the start wait so the runtime's
//    own syscalls are not filtered): seccomp(SECCOMP_SET_MODE_FILTER, TSYNC?,
//    prog); requires no_new_privs or CAP_SYS_ADMIN (still held here).
#pragma once

#include "agent/container/child_util.h"
#include "agent/container/plan.h"

namespace kata::agent::child {

Step PrepareCapabilities(const ProcessPlan& p);
Step ApplyCapabilities(const ProcessPlan& p);
Step ApplySeccomp(const ProcessPlan& p);

}  // namespace kata::agent::child
