// Child side: the container init's whole setup sequence, from clone to exec.
#pragma once

#include "agent/container/plan.h"

namespace kata::agent {

struct InitArgs {
  LaunchPlan* plan;  // the child's own copy (it records the fds it opens)
  int report_fd;  // write end of the report pipe
  int start_fd;   // child end of the start socket: 'M' (id maps written), 'S' (start)
};

// ChildFn for Spawn: never returns.
void InitMain(void* init_args);

}  // namespace kata::agent
