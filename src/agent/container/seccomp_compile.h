// Parent side of seccomp: compiles an OCI linux.seccomp object into a
// classic-BPF program with libseccomp. libseccomp allocates, so this runs in
// the agent before clone; the child only calls seccomp(2) with the result.
#pragma once

#include <linux/filter.h>

#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace kata::agent {

struct SeccompProgram {
  std::vector<struct sock_filter> filter;  // empty = no filter
  unsigned flags = 0;                      // SECCOMP_FILTER_FLAG_* from linux.seccomp.flags
};

// Every action (SCMP_ACT_KILL, _KILL_PROCESS, _KILL_THREAD, _TRAP, _ERRNO,
// _TRACE, _ALLOW, _LOG; _NOTIFY is refused: no listener in the guest),
// errnoRet/defaultErrnoRet, every operator (SCMP_CMP_NE, _LT, _LE, _EQ, _GE,
// _GT, _MASKED_EQ) and the architectures libseccomp knows. As runc does:
// unknown syscall names are skipped, conditions on distinct arguments are
// ANDed in one rule, repeated argument indexes become one rule per condition.
Result<SeccompProgram> CompileSeccomp(const nlohmann::json& seccomp);

}  // namespace kata::agent
