// The spec the guest receives (sandbox/guest_spec.h) and the pod options the
// shim refuses (shim/sandbox_config.h CheckPodHostNamespaces).
#include "sandbox/guest_spec.h"

#include <gtest/gtest.h>

#include "common/guest_paths.h"
#include "sandbox/sandbox_config.h"

namespace kata {
namespace {

using nlohmann::json;

json CriContainerSpec(int vmm_pid) {
  std::string p = "/proc/" + std::to_string(vmm_pid) + "/ns/";
  return json::parse(R"({"linux": {"namespaces": [
      {"type": "pid", "path": ")" + p + R"(pid"}, {"type": "ipc", "path": ")" + p + R"(ipc"},
      {"type": "uts", "path": ")" + p + R"(uts"}, {"type": "network", "path": "/var/run/netns/cni-1"},
      {"type": "mount"}],
    "resources": {"cpu": {"shares": 512, "cpus": "0-1", "mems": "0"}, "memory": {"limit": 1048576},
                  "blockIO": {"weight": 10}, "hugepageLimits": [{"pageSize": "2MB", "limit": 0}]},
    "seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}}})");
}

TEST(GuestSpecTest, ThePodsNamespacesBecomeTheSandboxContainers) {
  json spec = CriContainerSpec(4242);
  sandbox::AdaptSpecForGuest(spec, {4242, false, true});
  const json& ns = spec["linux"]["namespaces"];
  ASSERT_EQ(ns.size(), 4u) << ns.dump();  // network gone
  EXPECT_EQ(ns[0]["path"], std::string(kGuestSandboxNsDir) + "/pid");
  EXPECT_EQ(ns[1]["path"], std::string(kGuestSandboxNsDir) + "/ipc");
  EXPECT_EQ(ns[2]["path"], std::string(kGuestSandboxNsDir) + "/uts");
  EXPECT_FALSE(ns[3].contains("path"));
  EXPECT_FALSE(spec.contains("annotations"));
}

TEST(GuestSpecTest, AnotherProcessesNamespaceIsNotJoinedButReplaced) {
  json spec = CriContainerSpec(1);  // names pid 1's namespaces, not the VMM's
  sandbox::AdaptSpecForGuest(spec, {4242, false, true});
  for (const json& ns : spec["linux"]["namespaces"]) EXPECT_FALSE(ns.contains("path")) << ns.dump();
}

TEST(GuestSpecTest, HostResourcesAreDroppedAndGuestLimitsKept) {
  json spec = CriContainerSpec(4242);
  sandbox::AdaptSpecForGuest(spec, {4242, true, true});
  const json& r = spec["linux"]["resources"];
  EXPECT_EQ(r["cpu"], json::parse(R"({"shares": 512, "cpus": "0-1", "mems": "0"})"));  // the agent decides
  EXPECT_EQ(r["memory"]["limit"], 1048576);
  EXPECT_FALSE(r.contains("blockIO"));
  EXPECT_FALSE(r.contains("hugepageLimits"));
  EXPECT_TRUE(spec["linux"].contains("seccomp"));
  EXPECT_EQ(spec["annotations"][kContainerTypeAnnotation], kPodSandboxType);
}

TEST(GuestSpecTest, DisableGuestSeccompDropsTheProfile) {
  json spec = CriContainerSpec(4242);
  sandbox::AdaptSpecForGuest(spec, {4242, false, false});
  EXPECT_FALSE(spec["linux"].contains("seccomp"));
}

TEST(GuestSpecTest, ShareNamesCarryTheSourcesName) {
  EXPECT_EQ(sandbox::ShareNameForMount(0, "/var/lib/kubelet/pods/x/volumes/kubernetes.io~empty-dir/cache"),
            "mounts/0-cache");
  EXPECT_EQ(sandbox::ShareNameForMount(3, "/etc/hosts"), "mounts/3-hosts");
  EXPECT_EQ(sandbox::ShareNameForMount(1, "/data/a b\nc"), "mounts/1-a_b_c");
  EXPECT_EQ(sandbox::ShareNameForMount(2, "/"), "mounts/2-volume");
  EXPECT_EQ(sandbox::ShareNameForMount(4, "/x/..").substr(0, 9), "mounts/4-");
  EXPECT_EQ(sandbox::ShareNameForMount(5, "/" + std::string(300, 'a')).size(), std::string("mounts/5-").size() + 64);
}

TEST(PodHostNamespacesTest, HostNetworkAndHostIpcPodsAreRefusedByName) {
  std::map<std::string, std::string> pod = {{"io.kubernetes.cri.container-type", "sandbox"}};
  json ok = json::parse(R"({"linux": {"namespaces": [{"type": "network", "path": "/x"}, {"type": "ipc"}]}})");
  EXPECT_TRUE(sandbox::CheckPodHostNamespaces(ok, pod).ok());
  json host_net = json::parse(R"({"linux": {"namespaces": [{"type": "ipc"}]}})");
  Status st = sandbox::CheckPodHostNamespaces(host_net, pod);
  EXPECT_NE(st.message().find("hostNetwork"), std::string::npos) << st.message();
  json host_ipc = json::parse(R"({"linux": {"namespaces": [{"type": "network"}]}})");
  st = sandbox::CheckPodHostNamespaces(host_ipc, pod);
  EXPECT_NE(st.message().find("hostIPC"), std::string::npos) << st.message();
  // Not a CRI pod (docker, podman, ctr): left as it is.
  EXPECT_TRUE(sandbox::CheckPodHostNamespaces(host_ipc, {}).ok());
}

}  // namespace
}  // namespace kata
