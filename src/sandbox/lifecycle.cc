#include "sandbox/lifecycle.h"

#include <initializer_list>

namespace kata::sandbox {
namespace {

using S = ContainerState;
using Op = ContainerOp;

// What a row leads to beside a plain state: the same state, or (resume)
// the state the container was paused in.
enum class To { kCreated, kRunning, kPaused, kStopped, kSame, kPausedFrom };

struct Row {
  Op op;
  std::initializer_list<S> from;
  To to;
};

// Every allowed (state, operation); anything else is refused (Refusal).
// A created container may be paused (runc allows it) and even started while
// paused: it stays paused until resumed.
const Row kTable[] = {
    {Op::kStart, {S::kCreated}, To::kRunning},
    {Op::kStart, {S::kPaused}, To::kSame},
    {Op::kPause, {S::kCreated, S::kRunning}, To::kPaused},
    {Op::kResume, {S::kPaused}, To::kPausedFrom},
    {Op::kUpdate, {S::kCreated, S::kRunning, S::kPaused}, To::kSame},
    {Op::kStats, {S::kCreated, S::kRunning, S::kPaused}, To::kSame},
    {Op::kExec, {S::kRunning}, To::kSame},
    {Op::kSignalInit, {S::kCreated, S::kRunning, S::kPaused}, To::kSame},
    {Op::kDelete, {S::kCreated, S::kStopped}, To::kStopped},
    {Op::kForceDelete, {S::kCreated, S::kRunning, S::kPaused, S::kStopped}, To::kStopped},
};

Status Refusal(S from, Op op, const std::string& id) {
  switch (op) {
    case Op::kStart:
      return Error(Code::kFailedPrecondition, from == S::kStopped ? "cannot start a container that has stopped"
                                                                  : "cannot start an already running container");
    case Op::kResume: return Error(Code::kFailedPrecondition, "container " + id + " is not paused");
    case Op::kSignalInit: return Error(Code::kNotFound, "container " + id + " not running");
    case Op::kDelete:
      return Error(Code::kFailedPrecondition,
                   "cannot delete container " + id + " that is not stopped: " + StateName(from));
    default: return Error(Code::kFailedPrecondition, "container " + id + " is not running");
  }
}

S Resolve(To to, S from, S paused_from) {
  switch (to) {
    case To::kCreated: return S::kCreated;
    case To::kRunning: return S::kRunning;
    case To::kPaused: return S::kPaused;
    case To::kStopped: return S::kStopped;
    case To::kSame: return from;
    case To::kPausedFrom: return paused_from;
  }
  return from;
}

}  // namespace

const char* StateName(ContainerState s) {
  switch (s) {
    case S::kCreated: return "created";
    case S::kRunning: return "running";
    case S::kPaused: return "paused";
    case S::kStopped: return "stopped";
  }
  return "unknown";
}

Result<ContainerState> NextState(ContainerState from, ContainerOp op, const std::string& id, ContainerState paused_from) {
  for (const Row& r : kTable) {
    if (r.op != op) continue;
    for (S s : r.from) {
      if (s == from) return Resolve(r.to, from, paused_from);
    }
  }
  return Refusal(from, op, id);
}

Result<ProcessStep> NextProcessStep(ProcessEvents from, ProcessEvent event, const std::string& process) {
  using P = ProcessEvents;
  struct ProcessRow {
    ProcessEvent event;
    P from;
    ProcessStep step;
  };
  static const ProcessRow kProcessTable[] = {
      {ProcessEvent::kStart, P::kCreated, {P::kStarted, true, false, false}},
      {ProcessEvent::kStart, P::kExitHeld, {P::kExitPublished, true, true, false}},
      {ProcessEvent::kExit, P::kCreated, {P::kExitHeld, false, false, true}},
      {ProcessEvent::kExit, P::kStarted, {P::kExitPublished, false, true, true}},
      {ProcessEvent::kExit, P::kExitHeld, {P::kExitHeld, false, false, false}},
      {ProcessEvent::kExit, P::kExitPublished, {P::kExitPublished, false, false, false}},
  };
  for (const ProcessRow& r : kProcessTable) {
    if (r.event == event && r.from == from) return r.step;
  }
  return Error(Code::kFailedPrecondition, "process " + process + " already started");
}

}  // namespace kata::sandbox
