// A container's lifecycle as one table (runc's shape): its states, what may
// be done in each, and where that leads. Container (container.h) asks the
// table before every operation and keeps only the state it gives back; the
// shim maps the same states to the Task API's (task_lifecycle.cc).
#pragma once

#include <string>

#include "common/status.h"

namespace kata::sandbox {

enum class ContainerState { kCreated, kRunning, kPaused, kStopped };
const char* StateName(ContainerState s);

enum class ContainerOp {
  kStart,       // run the container's process (created -> running)
  kPause,       // freeze every process
  kResume,      // thaw: back to the state it was paused in
  kUpdate,      // change its resources (no state change)
  kStats,       // read its cgroup statistics (no state change)
  kExec,        // start another process in it (no state change)
  kSignalInit,  // signal its init alone (no state change)
  kDelete,      // remove it (from a state that has no live process)
  kForceDelete  // remove it whatever runs (killed first)
};

// The state after `op` in state `from` (`paused_from`: the state a paused
// container was paused in, which kResume returns to), or the error saying
// why `op` is not allowed there, naming container `id`.
Result<ContainerState> NextState(ContainerState from, ContainerOp op, const std::string& id,
                                 ContainerState paused_from = ContainerState::kRunning);

// The Task API events of one process (the shim publishes them): its start
// (or exec-started) goes out before its exit, and its exit once, whatever
// order the exit, the Start RPC and the Wait/Delete RPCs race in.
enum class ProcessEvents {
  kCreated,       // nothing published since create (or exec-added)
  kStarted,       // start published, exit not known
  kExitHeld,      // exit known before the start was published: held
  kExitPublished  // both published: nothing more to send
};
enum class ProcessEvent { kStart, kExit };

struct ProcessStep {
  ProcessEvents to;
  bool publish_start = false;
  bool publish_exit = false;
  bool records_exit = false;  // the first exit known: keep its status
};

// What `event` does in state `from`: the next state and what to publish;
// a second start is refused naming `process`. A second exit changes nothing.
Result<ProcessStep> NextProcessStep(ProcessEvents from, ProcessEvent event, const std::string& process);

}  // namespace kata::sandbox
