// The host side of the pod network against a real network namespace (no
// VM): a veth with addresses and routes is found, and tc mirrors it to a tap.
// Needs root (CI runs as root), like the agent's container tests.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "net/netlink.h"
#include "oci/namespace_paths.h"
#include "oci/spec_json.h"
#include "sandbox/netns.h"
#include "sandbox/network.h"
#include "vmm/qemu/command_line.h"

namespace kata::sandbox {
namespace {

std::string Sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class PodNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    name_ = "kata-ut-" + std::to_string(getpid());
    // A pod namespace as CNI leaves it: eth0 (one end of a veth) with an
    // address and a default route; the VMM's tap next to it.
    std::string setup = "ip netns add " + name_ + " && ip -n " + name_ + " link add eth0 type veth peer name peer0" +
                        " && ip -n " + name_ + " link set eth0 address 0a:58:0a:58:00:05 mtu 1450 up" +
                        " && ip -n " + name_ + " link set peer0 up" + " && ip -n " + name_ +
                        " addr add 10.88.0.5/16 dev eth0" + " && ip -n " + name_ +
                        " route add default via 10.88.0.1" + " && ip -n " + name_ + " tuntap add " + kTapName +
                        " mode tap" + " && ip -n " + name_ + " tuntap add " + SandboxNic(1).tap_name + " mode tap";
    ASSERT_EQ(system(setup.c_str()), 0) << Sh(setup);
  }
  void TearDown() override {
    if (!name_.empty()) Sh("ip netns del " + name_);
  }
  std::string name_;
};

TEST_F(PodNetworkTest, FindsTheVethWithAddressesAndRoutesAndMirrorsItToTheTap) {
  auto ns = NetNs::Open("/run/netns/" + name_);
  ASSERT_TRUE(ns.ok()) << ns.status().message();
  std::vector<PodInterface> found;
  Status st = ns->Run([&]() -> Status {
    ASSIGN_OR_RETURN(net::Socket sk, net::Connect());
    ASSIGN_OR_RETURN(found, ScanPodNetwork(sk.get()));
    // peer0 is a veth too: the pod interface is the one with an address.
    for (const PodInterface& p : found) {
      if (p.iface.name() != "eth0") continue;
      ASSIGN_OR_RETURN(Mirror m, PlanMirror(sk.get(), p.ifindex, "eth0"));
      return MirrorVethAndTap(sk.get(), m, kTapName, 1450);
    }
    return Error(Code::kNotFound, "eth0 not found");
  });
  ASSERT_TRUE(st.ok()) << st.message();
  const PodInterface* eth0 = nullptr;
  for (const PodInterface& p : found) {
    EXPECT_NE(p.iface.name(), kTapName);
    EXPECT_NE(p.iface.name(), SandboxNic(1).tap_name) << "a second NIC's tap is ours too";
    EXPECT_NE(p.iface.name(), "lo");
    if (p.iface.name() == "eth0") eth0 = &p;
  }
  ASSERT_NE(eth0, nullptr);
  EXPECT_EQ(eth0->iface.hwaddr(), "0a:58:0a:58:00:05");
  EXPECT_EQ(eth0->iface.mtu(), 1450u);
  ASSERT_EQ(eth0->iface.ipaddresses_size(), 1);
  EXPECT_EQ(eth0->iface.ipaddresses(0).address(), "10.88.0.5");
  EXPECT_EQ(eth0->iface.ipaddresses(0).mask(), "16");
  // The subnet route is the kernel's (it comes back in the guest by itself).
  ASSERT_EQ(eth0->routes.routes_size(), 1);
  EXPECT_EQ(eth0->routes.routes(0).dest(), "");
  EXPECT_EQ(eth0->routes.routes(0).gateway(), "10.88.0.1");
  EXPECT_EQ(eth0->routes.routes(0).device(), "eth0");

  std::string veth_filters = Sh("tc -n " + name_ + " filter show dev eth0 ingress");
  EXPECT_NE(veth_filters.find("mirred (Egress Redirect to device " + std::string(kTapName) + ")"), std::string::npos)
      << veth_filters;
  std::string tap_filters = Sh("tc -n " + name_ + " filter show dev " + kTapName + " ingress");
  EXPECT_NE(tap_filters.find("mirred (Egress Redirect to device eth0)"), std::string::npos) << tap_filters;
  std::string tap = Sh("ip -n " + name_ + " link show " + kTapName);
  EXPECT_NE(tap.find("mtu 1450"), std::string::npos) << tap;
  EXPECT_NE(tap.find(",UP"), std::string::npos) << tap;
}

Status InNs(const std::string& name, const std::function<Status(nl_sock*)>& fn) {
  auto ns = NetNs::Open("/run/netns/" + name);
  if (!ns.ok()) return ns.status();
  return ns->Run([&]() -> Status {
    ASSIGN_OR_RETURN(net::Socket sk, net::Connect());
    return fn(sk.get());
  });
}

// Issue 12, High 0: teardown gives the pod's interface back as it was.
TEST_F(PodNetworkTest, RemoveMirrorTakesAwayWhatMirroringAdded) {
  Mirror m;
  ASSERT_TRUE(InNs(name_, [&](nl_sock* sk) -> Status {
    ASSIGN_OR_RETURN(std::vector<PodInterface> found, ScanPodNetwork(sk));
    for (const PodInterface& p : found)
      if (p.iface.name() == "eth0") m = *PlanMirror(sk, p.ifindex, "eth0");
    EXPECT_FALSE(m.qdisc_existed);
    RETURN_IF_ERROR(MirrorVethAndTap(sk, m, kTapName, 1450));
    return RemoveMirror(sk, m);
  }).ok());
  EXPECT_EQ(Sh("tc -n " + name_ + " qdisc show dev eth0 ingress"), "");
  EXPECT_EQ(Sh("tc -n " + name_ + " filter show dev eth0 ingress"), "");
}

TEST_F(PodNetworkTest, AnIngressQdiscThatWasThereStaysWithItsOwnFilters) {
  ASSERT_EQ(system(("tc -n " + name_ + " qdisc add dev eth0 ingress && tc -n " + name_ +
                    " filter add dev eth0 parent ffff: prio 7 protocol ip u32 match ip src 192.0.2.1/32 flowid :1")
                       .c_str()),
            0);
  Mirror m;
  ASSERT_TRUE(InNs(name_, [&](nl_sock* sk) -> Status {
    ASSIGN_OR_RETURN(net::Link eth0, net::LinkByName(sk, "eth0"));
    ASSIGN_OR_RETURN(m, PlanMirror(sk, rtnl_link_get_ifindex(eth0.get()), "eth0"));
    RETURN_IF_ERROR(MirrorVethAndTap(sk, m, kTapName, 1450));
    return RemoveMirror(sk, m);
  }).ok());
  EXPECT_TRUE(m.qdisc_existed);
  std::string filters = Sh("tc -n " + name_ + " filter show dev eth0 ingress");
  EXPECT_NE(filters.find("pref 7"), std::string::npos) << filters;
  EXPECT_EQ(filters.find("mirred"), std::string::npos) << filters;
}

// Issue 12, High 0: a namespace with a physical NIC or a bridge is not a
// pod's; its interfaces are never mirrored.
TEST_F(PodNetworkTest, ANamespaceWithABridgeIsRefusedNamingIt) {
  ASSERT_EQ(system(("ip -n " + name_ + " link add br-host type bridge && ip -n " + name_ + " link set br-host up").c_str()), 0);
  Status st = InNs(name_, [](nl_sock* sk) { return ScanPodNetwork(sk).status(); });
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("br-host (a bridge)"), std::string::npos) << st.message();
  EXPECT_FALSE(InNs(name_, [](nl_sock* sk) { return PodNicCount(sk).status(); }).ok());
  // Down, it is ignored (every namespace may hold down fallback devices).
  ASSERT_EQ(system(("ip -n " + name_ + " link set br-host down").c_str()), 0);
  EXPECT_TRUE(InNs(name_, [](nl_sock* sk) { return ScanPodNetwork(sk).status(); }).ok());
}

TEST(NetNsTest, TheRuntimesOwnNamespaceIsTheHosts) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  auto own = NetNs::Open("/proc/self/ns/net");
  ASSERT_TRUE(own.ok());
  EXPECT_TRUE(own->IsHost());
  auto fresh = NetNs::CreateNew();
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE(fresh->IsHost());
}

TEST(PodNetworkMacTest, EveryNicHasItsOwnTapAndBootMac) {
  EXPECT_EQ(SandboxNic(0).tap_name, kTapName);
  EXPECT_EQ(SandboxNic(0).mac, kGuestBootMac);
  EXPECT_EQ(SandboxNic(2).id, "net2");
  EXPECT_EQ(SandboxNic(2).tap_name, "tap2_kata");
  EXPECT_EQ(SandboxNic(2).mac, "02:00:00:00:00:03");
}

TEST(PodNetworkMacTest, BootMacIsLocalUnicast) {
  std::string mac = kGuestBootMac;
  EXPECT_EQ(net::NormalizeMac(mac), mac);
  unsigned first = std::stoul(mac.substr(0, 2), nullptr, 16);
  EXPECT_EQ(first & 0x3u, 0x2u) << "locally administered, unicast";
}

TEST(NamespacePathTest, PathMustBeANamespaceOfTheDeclaredType) {
  auto spec_with = [](const std::string& type, const std::string& path) {
    nlohmann::json j = {{"ociVersion", "1.0.2"},
                        {"root", {{"path", "rootfs"}}},
                        {"linux", {{"namespaces", {{{"type", type}, {"path", path}}}}}}};
    auto s = oci::ParseSpec(j);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return *s;
  };
  EXPECT_TRUE(oci::CheckNamespacePaths(spec_with("ipc", "/proc/self/ns/ipc")).ok());
  Status wrong = oci::CheckNamespacePaths(spec_with("cgroup", "/proc/self/ns/ipc"));
  EXPECT_FALSE(wrong.ok());
  EXPECT_NE(wrong.message().find("is not a namespace of type cgroup"), std::string::npos) << wrong.message();
  EXPECT_FALSE(oci::CheckNamespacePaths(spec_with("network", "/etc/hostname")).ok());
  EXPECT_FALSE(oci::CheckNamespacePaths(spec_with("network", "/nonexistent/ns")).ok());
}

TEST(QemuCommandLineTest, NicIsATapInTheVmmNamespaceWithTheGivenMac) {
  vmm::VmSpec spec;
  spec.machine_type = "microvm";
  spec.nics = {vmm::NetDevice{"net0", "tap0_kata", "02:00:00:00:00:01"}};
  std::string line;
  for (const auto& a : vmm::qemu::BuildCommandLine(spec)) line += a + " ";
  EXPECT_NE(line.find("-netdev tap,id=net0,ifname=tap0_kata,script=no,downscript=no,vhost=off"), std::string::npos)
      << line;
  EXPECT_NE(line.find("-device virtio-net-device,netdev=net0,mac=02:00:00:00:00:01"), std::string::npos) << line;
  spec.machine_type = "q35";
  line.clear();
  for (const auto& a : vmm::qemu::BuildCommandLine(spec)) line += a + " ";
  EXPECT_NE(line.find("virtio-net-pci,netdev=net0"), std::string::npos) << line;
}

TEST(QemuCommandLineTest, DebugConsoleIsAConsolePortOnASocketOnlyWhenAsked) {
  vmm::VmSpec spec;
  spec.machine_type = "microvm";
  spec.run_dir = "/run/vc/vm/x";
  auto joined = [&] {
    std::string line;
    for (const auto& a : vmm::qemu::BuildCommandLine(spec)) line += a + " ";
    return line;
  };
  EXPECT_EQ(joined().find("dbgcon"), std::string::npos);
  spec.debug_console = true;
  std::string line = joined();
  EXPECT_NE(line.find("-chardev socket,id=dbgcon,path=/run/vc/vm/x/console.sock,server=on,wait=off"), std::string::npos)
      << line;
  EXPECT_NE(line.find("-device virtconsole,bus=serial0.0,chardev=dbgcon,name=console.channel.0"), std::string::npos)
      << line;
}

}  // namespace
}  // namespace kata::sandbox
