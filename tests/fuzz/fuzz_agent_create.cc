// The spec JSON of the agent's CreateContainer request, handled as
// agent_service.cc does up to the clone: oci::ParseSpec, BuildLaunchPlan
// (mounts and their options, default and spec devices, sysctls, masked and
// read-only paths, startContainer hooks, the process: PATH lookup, user,
// rlimits, HOME from the rootfs's /etc/passwd), BuildSecurityPlan
// (capabilities, linux.seccomp compiled with libseccomp), the device cgroup
// rules compiled to BPF, and the other linux.resources written to a
// stand-in cgroup directory (agent_env.h).
//
// Properties: no crash, leak or sanitizer report; errors are Status values.
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/container/cgroup.h"
#include "agent/container/device_filter.h"
#include "agent/container/launch.h"
#include "agent/container/plan.h"
#include "agent/container/security.h"
#include "agent_env.h"
#include "fuzz_util.h"
#include "oci/spec_json.h"

using namespace kata;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::QuietLogs();
  fuzz::AgentEnv::Get();
  return 0;
}

namespace {

void Resources(const oci::Spec& spec) {
  if (!spec.linux_config || !spec.linux_config->resources) return;
  const fuzz::AgentEnv& env = fuzz::AgentEnv::Get();
  nlohmann::json raw = spec.linux_config->resources->raw;
  // The device rules become a BPF program; loading it is the kernel's part.
  auto devices = raw.find("devices");
  if (devices != raw.end()) {
    Result<std::vector<agent::DeviceRule>> rules = agent::ParseDeviceRules(*devices);
    if (rules.ok()) {
      FUZZ_CHECK(fuzz::RuleNumbersAsWritten(*devices, *rules), devices->dump().c_str());
      auto prog = agent::CompileDeviceFilter(agent::WithDefaults(*rules, spec.linux_config->devices));
      FUZZ_CHECK(prog.size() < 1000000, "device filter size");
    }
    raw.erase(devices);
  }
  env.Reset();
  (void)agent::ApplyResources(env.cgroup, raw, spec.linux_config->devices);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Result<oci::Spec> spec = oci::ParseSpec(std::string(reinterpret_cast<const char*>(data), size));
  if (!spec.ok() || !spec->process) return 0;
  Resources(*spec);
  const fuzz::AgentEnv& env = fuzz::AgentEnv::Get();
  agent::LaunchSpec ls;
  ls.spec = std::move(*spec);
  ls.rootfs = env.rootfs;  // spec.root.path is the host's path; the agent's is fixed
  ls.cgroup_dir = env.cgroup;
  ls.id = "fuzz";
  ls.bundle = env.dir;
  auto plan = std::make_unique<agent::LaunchPlan>();
  if (!agent::BuildLaunchPlan(ls, plan.get()).ok()) return 0;
  const nlohmann::json none;
  const nlohmann::json& seccomp = ls.spec.linux_config ? ls.spec.linux_config->seccomp : none;
  (void)agent::BuildSecurityPlan(*ls.spec.process, seccomp, &plan->proc);
  return 0;
}
