// Capabilities and seccomp.
//
// Parent side (BuildSecurityPlan, before clone): process.capabilities become
// bit masks (names the kernel does not know are skipped, as runc does);
// linux.seccomp is compiled with libseccomp into a BPF program (see
// seccomp_compile.h). Both are stored in the ProcessPlan.
//
// Child side, in this order (process_setup.cc):
//  - PrepareCapabilities (before the uid/gid switch): PR_CAPBSET_DROP every
//    cap not in `bounding`, PR_SET_KEEPCAPS 1 so the switch keeps permitted.
//  - ApplyCapabilities (after the switch): capset(effective, permitted,
//    inheritable), then the ambient set (cleared, then each cap raised).
//  - ApplySeccomp: seccomp(SECCOMP_SET_MODE_FILTER). Normally the very last
//    step before execve (after no_new_privs and, for the init, after the start
//    wait, so the runtime's own syscalls are not filtered). Loading a filter
//    needs no_new_privs or CAP_SYS_ADMIN: when the process has neither in the
//    end (noNewPrivileges false, CAP_SYS_ADMIN not effective), it is loaded
//    early instead, just before the uid/gid switch, as runc does; the rest of
//    the setup (setgroups, setres[ug]id, capset, prctl, chdir, stat, read,
//    execve) then runs under the filter.
#pragma once

#include <nlohmann/json.hpp>

#include "agent/container/child_util.h"
#include "agent/container/plan.h"

namespace kata::agent {

// Fills plan->caps and plan->seccomp*. `seccomp` is linux.seccomp (null = none).
Status BuildSecurityPlan(const oci::Process& process, const nlohmann::json& seccomp, ProcessPlan* plan);

// Capability number for "CAP_SYS_ADMIN", -1 when unknown.
int CapabilityNumber(const std::string& name);

}  // namespace kata::agent

namespace kata::agent::child {

Step PrepareCapabilities(const ProcessPlan& p);
Step ApplyCapabilities(const ProcessPlan& p);
// Loads the filter when `early` matches p.seccomp_early (called at both points).
Step ApplySeccomp(const ProcessPlan& p, bool early);

}  // namespace kata::agent::child
