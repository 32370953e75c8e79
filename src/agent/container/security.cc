#include "agent/container/security.h"

namespace kata::agent::child {

// TODO(next milestone): see security.h. The process keeps the agent's full
// capability set and no seccomp filter until then.
Step PrepareCapabilities(const ProcessPlan&) { return Ok(); }
Step ApplyCapabilities(const ProcessPlan&) { return Ok(); }
Step ApplySeccomp(const ProcessPlan&) { return Ok(); }

}  // namespace kata::agent::child
