// A signal for a container's init that arrives before the init can take it.
//
// The init of a pid namespace ignores every signal it has no handler for
// (except SIGKILL/SIGSTOP from an ancestor namespace). Kubernetes stops a
// container with SIGTERM right after starting it if it must; under a software
// CPU the workload needs tens to hundreds of milliseconds more than on a real
// one to install its handler (busybox `top`: ~200 ms under TCG), and the
// signal is silently lost: the stop then waits out its whole grace period.
// So when such a signal finds the init without a handler, the agent watches
// for a while and sends it again once a handler appears. An init that never
// installs one (or ignores the signal on purpose) is left alone, as runc would.
#pragma once

#include <sys/types.h>

namespace kata::agent {

// Call after sending `sig` to `pid`. Returns at once; a detached thread
// re-sends the signal if `pid` is the init of its pid namespace, had the
// signal at its default disposition, and installs a handler within ~10 s.
void RedeliverWhenCaught(pid_t pid, int sig);

}  // namespace kata::agent
