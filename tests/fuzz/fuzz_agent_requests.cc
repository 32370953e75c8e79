// The other agent requests whose fields the agent parses. The first byte
// picks the request, the rest is its input:
//   0  ExecProcess.process_json: ParseJsonBounded + oci::ParseProcess,
//      BuildProcessPlan and BuildSecurityPlan (with a seccomp profile, as a
//      container's execs get it), as agent_service.cc and exec.cc do;
//   1  UpdateContainer.resources_json: the bounded parse, then the device
//      rules (compiled, not loaded) and ApplyResources on a stand-in cgroup
//      directory (agent_env.h), as resources_service.cc does;
//   2  UpdateInterfaceRequest (protobuf bytes): the MAC, hwaddr, addresses
//      and prefix lengths guest_network.cc parses before netlink;
//   3  UpdateRoutesRequest (protobuf bytes): route destinations, gateways
//      and sources, likewise. Nothing reaches the host's netlink.
//
// Properties: no crash, leak or sanitizer report; errors are Status values.
#include <linux/if_ether.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "agent.pb.h"
#include "agent/container/cgroup.h"
#include "agent/container/device_filter.h"
#include "agent/container/plan.h"
#include "agent/container/security.h"
#include "agent/guest_network.h"
#include "agent_env.h"
#include <google/protobuf/stubs/logging.h>

#include "fuzz_util.h"
#include "net/netlink.h"
#include "common/json_parse.h"
#include "oci/spec_json.h"

using namespace kata;

namespace {

// A profile like Docker's default in miniature: execs get the container's.
const nlohmann::json& Seccomp() {
  static const nlohmann::json s = nlohmann::json::parse(R"({
    "defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
                 {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                  "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}]})");
  return s;
}

void Exec(const std::string& text) {
  Result<nlohmann::json> j = ParseJsonBounded(text, "process");
  if (!j.ok()) return;
  Result<oci::Process> p = oci::ParseProcess(*j);
  if (!p.ok()) return;
  agent::ProcessPlan plan;
  if (!agent::BuildProcessPlan(*p, -1, &plan).ok()) return;
  (void)agent::BuildSecurityPlan(*p, Seccomp(), &plan);
}

void Update(const std::string& text) {
  Result<nlohmann::json> j = ParseJsonBounded(text, "resources");
  if (!j.ok() || !j->is_object()) return;
  auto devices = j->find("devices");
  if (devices != j->end()) {
    auto rules = agent::ParseDeviceRules(*devices);
    if (rules.ok()) {
      FUZZ_CHECK(fuzz::RuleNumbersAsWritten(*devices, *rules), devices->dump().c_str());
      (void)agent::CompileDeviceFilter(agent::WithDefaults(*rules, {}));
    }
    j->erase(devices);
  }
  const fuzz::AgentEnv& env = fuzz::AgentEnv::Get();
  env.Reset();
  (void)agent::ApplyResources(env.cgroup, *j, {});
}

int Family(grpc::IPFamily f) { return f == grpc::v6 ? AF_INET6 : AF_INET; }

void Interface(const std::string& bytes) {
  grpc::UpdateInterfaceRequest req;
  if (!req.ParseFromString(bytes)) return;
  const grpc::Interface& i = req.interface();
  (void)net::NormalizeMac(i.device());
  if (!i.hwaddr().empty()) (void)net::ParseAddr(i.hwaddr(), AF_LLC);
  for (const grpc::IPAddress& ip : i.ipaddresses()) {
    Result<int> prefix = agent::PrefixLength(ip);
    if (prefix.ok()) FUZZ_CHECK(*prefix >= 0 && *prefix <= 128, "prefix length");
    (void)net::ParseAddr(ip.address(), Family(ip.family()));
  }
}

void Routes(const std::string& bytes) {
  grpc::UpdateRoutesRequest req;
  if (!req.ParseFromString(bytes)) return;
  for (const grpc::Route& r : req.routes().routes()) {
    (void)net::ParseAddr(r.dest().empty() ? "default" : r.dest(), Family(r.family()));
    if (!r.gateway().empty()) (void)net::ParseAddr(r.gateway(), Family(r.family()));
    if (!r.source().empty()) (void)net::ParseAddr(r.source(), Family(r.family()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::QuietLogs();
  fuzz::AgentEnv::Get();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: Exec(rest); break;
    case 1: Update(rest); break;
    case 2: Interface(rest); break;
    case 3: Routes(rest); break;
  }
  return 0;
}
