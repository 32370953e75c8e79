// Issue 12: the guest is hostile. A privileged container stands in for a
// guest root shell (it mounts the 9p share itself and remounts what the
// agent made read-only); everything it tries must fail on the host side.
// One shared VM; the host-network cases run kata-runtime in namespaces
// made for the test, never in the host's own.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.h"
#include "shared_vm.h"

namespace kata::itest {
namespace {

const nlohmann::json kRootCaps = {"CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_OVERRIDE",
                                  "CAP_SETFCAP", "CAP_FSETID", "CAP_SYS_PTRACE", "CAP_SYS_CHROOT"};

void AsGuestRoot(nlohmann::json& spec) {
  spec["process"]["capabilities"] = {{"bounding", kRootCaps}, {"effective", kRootCaps}, {"permitted", kRootCaps}};
  spec["process"]["noNewPrivileges"] = false;
}

std::string StatusLine(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) return Trim(line.substr(key.size() + 1));
  }
  return "";
}

class HostileGuestTest : public SharedVmTest {
 protected:
  static void SetUpTestSuite() { BootSharedVm("hostile"); }
  static void TearDownTestSuite() { ShutDownSharedVm(); }

  // Runs `script` as guest root in a container of the shared VM; its stdout.
  std::string RunAsGuestRoot(const std::string& name, const std::string& script,
                             const std::function<void(nlohmann::json&)>& more = nullptr) {
    auto c = NewContainer(name, {"sh", "-c", script}, [&](nlohmann::json& s) {
      AsGuestRoot(s);
      if (more) more(s);
    });
    if (c == nullptr) return "";
    EXPECT_TRUE(c->Start().ok());
    c->init().Wait();
    EXPECT_TRUE(c->Delete(false).ok());
    return Output(name) + Output(name, "stderr");
  }
};

// Medium 2: QEMU runs under its own seccomp filter, without the
// capabilities it does not need, and cannot gain any. With virtio-fs (the
// default) it serves no files: only NET_ADMIN (12) for its taps.
TEST_F(HostileGuestTest, QemuIsConfined) {
  pid_t qemu = sandbox_->vmm_pid();
  EXPECT_EQ(StatusLine(qemu, "Seccomp"), "2");
  EXPECT_EQ(StatusLine(qemu, "NoNewPrivs"), "1");
  EXPECT_EQ(StatusLine(qemu, "CapBnd"), "0000000000001000");
  EXPECT_EQ(StatusLine(qemu, "CapEff"), "0000000000001000");
}

// virtiofsd serves the share from a child in its own pid, network and
// mount namespaces (whose root is the share), under its seccomp filter,
// with no_new_privs, an empty bounding set and only the capabilities that
// serve files: CHOWN, DAC_OVERRIDE, FOWNER, FSETID, SETGID, SETUID and
// SETFCAP (0x800000db); never MKNOD or SYS_ADMIN.
TEST_F(HostileGuestTest, VirtiofsdIsConfined) {
  std::string found = Trim(Sh("for p in $(pgrep -x virtiofsd); do tr '\\0' ' ' </proc/$p/cmdline | grep -q 'sandboxes/" +
                              id_ + "/' && [ \"$(cat /proc/$(ps -o ppid= -p $p | tr -d ' ')/comm)\" = virtiofsd ] && echo $p; done")
                               .out);
  ASSERT_FALSE(found.empty()) << "no serving virtiofsd for " << id_;
  pid_t server = std::stoi(found);
  EXPECT_EQ(StatusLine(server, "Seccomp"), "2");
  EXPECT_EQ(StatusLine(server, "NoNewPrivs"), "1");
  EXPECT_EQ(StatusLine(server, "CapBnd"), "0000000000000000");
  EXPECT_EQ(StatusLine(server, "CapEff"), "00000000800000db");
  for (const char* ns : {"pid", "net", "mnt"}) {
    EXPECT_NE(Sh(std::string("readlink /proc/self/ns/") + ns).out,
              Sh("readlink /proc/" + std::to_string(server) + "/ns/" + ns).out) << ns;
  }
}

// High 1 and Medium 2: the share's own directories are read-only to the
// guest (no symlink, file or directory can be planted where the host
// works), device nodes never reach the host, and binds are nosuid,nodev.
TEST_F(HostileGuestTest, AGuestRootCannotPlantAnythingInTheShare) {
  // The guest's own view of the share: the agent's mount namespace (the
  // container shares the guest's pid namespace to reach PID 1).
  std::string s = "nsenter -t 1 -m -- sh -c '";
  std::string out = RunAsGuestRoot(
      "planter",
      s + "cd /run/kata-containers/shared/containers && ls > /dev/null && echo listed;"
          "touch planted 2>/dev/null && echo planted-file;"
          "ln -s /etc planter/evil 2>/dev/null && echo planted-link;"
          "mkdir planter/x 2>/dev/null && echo planted-dir;"
          "mknod planter/rootfs/tmp/null c 1 3 2>/dev/null && echo made-device;"
          "echo done'",
      [](nlohmann::json& spec) {
        nlohmann::json kept = nlohmann::json::array();
        for (const auto& ns : spec["linux"]["namespaces"])
          if (ns["type"] != "pid") kept.push_back(ns);
        spec["linux"]["namespaces"] = kept;
      });
  EXPECT_NE(out.find("listed"), std::string::npos) << out;
  EXPECT_NE(out.find("done"), std::string::npos) << out;
  for (const char* bad : {"planted-file", "planted-link", "planted-dir", "made-device"}) {
    EXPECT_EQ(out.find(bad), std::string::npos) << bad << ": " << out;
  }
  struct stat st;
  EXPECT_NE(lstat((tmp_->path() + "/planter/rootfs/tmp/null").c_str(), &st), 0) << "a device node reached the host";
}

// Medium 7: a read-only root stays read-only on the host even when the
// guest remounts it read-write.
TEST_F(HostileGuestTest, AReadOnlyRootIsReadOnlyOnTheHost) {
  std::string out = RunAsGuestRoot("roroot", "mount -o remount,rw / ; touch /evil 2>/dev/null && echo wrote; echo done",
                                   [](nlohmann::json& s) {
                                     s["root"]["readonly"] = true;
                                     // A mount point the image lacks: the host makes it.
                                     s["mounts"].push_back({{"destination", "/data/new"}, {"type", "tmpfs"}, {"source", "tmpfs"}});
                                   });
  EXPECT_NE(out.find("done"), std::string::npos) << out;
  EXPECT_EQ(out.find("wrote"), std::string::npos) << out;
  EXPECT_FALSE(access((tmp_->path() + "/roroot/rootfs/evil").c_str(), F_OK) == 0);
}

// Medium 7: an `ro` volume is read-only all the way down, submounts too.
TEST_F(HostileGuestTest, AReadOnlyVolumeIsReadOnlyBelowItsSubmounts) {
  std::string vol = tmp_->path() + "/rovol";
  ASSERT_EQ(Sh("mkdir -p " + vol + "/sub && mount -t tmpfs -o size=1m tmpfs " + vol + "/sub").exit_code, 0);
  std::string out = RunAsGuestRoot(
      "rovolume",
      "mount -o remount,rw /vol ; mount -o remount,rw /vol/sub ;"
      "touch /vol/x 2>/dev/null && echo wrote-vol; touch /vol/sub/x 2>/dev/null && echo wrote-sub; echo done",
      [&](nlohmann::json& s) {
        s["mounts"].push_back({{"destination", "/vol"}, {"type", "bind"}, {"source", vol}, {"options", {"rbind", "ro"}}});
      });
  EXPECT_NE(out.find("done"), std::string::npos) << out;
  EXPECT_EQ(out.find("wrote-vol"), std::string::npos) << out;
  EXPECT_EQ(out.find("wrote-sub"), std::string::npos) << out;
  EXPECT_NE(access((vol + "/sub/x").c_str(), F_OK), 0);
  umount2((vol + "/sub").c_str(), MNT_DETACH);
}

// The container binds are the VMM's: nothing of them in the host's (or
// the service's) mount namespace.
TEST_F(HostileGuestTest, BindsAreInvisibleOnTheHost) {
  auto c = NewContainer("visible", {"sleep", "30"});
  ASSERT_NE(c, nullptr);
  std::string mounts = Sh("cat /proc/self/mountinfo").out;
  EXPECT_EQ(mounts.find(sandbox_->share().dir()), std::string::npos) << mounts;
  std::string qemu_mounts = Sh("cat /proc/" + std::to_string(sandbox_->vmm_pid()) + "/mountinfo").out;
  EXPECT_NE(qemu_mounts.find(sandbox_->share().exported_dir() + "/visible/rootfs"), std::string::npos) << qemu_mounts;
  EXPECT_TRUE(c->Delete(true).ok());
  qemu_mounts = Sh("cat /proc/" + std::to_string(sandbox_->vmm_pid()) + "/mountinfo").out;
  EXPECT_EQ(qemu_mounts.find("/visible/"), std::string::npos) << qemu_mounts;
}

// --- High 0: the host's network ---------------------------------------

// A network namespace made for the test, removed with it.
class TestNetns {
 public:
  explicit TestNetns(const std::string& name) : name_(name) {
    Sh("ip netns del " + name_ + " 2>/dev/null");
    ok_ = Sh("ip netns add " + name_ + " && ip -n " + name_ + " link set lo up").exit_code == 0;
  }
  ~TestNetns() { Sh("ip netns del " + name_); }
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  std::string path() const { return "/run/netns/" + name_; }
  bool Do(const std::string& ip_args) { return Sh("ip -n " + name_ + " " + ip_args).exit_code == 0; }
  std::string Qdiscs() { return Trim(Sh("tc -n " + name_ + " qdisc show | grep -v 'qdisc noqueue'").out); }

 private:
  std::string name_;
  bool ok_ = false;
};

std::string BundleInNetns(const std::string& dir, const std::vector<std::string>& args, const std::string& netns_path) {
  MakeBundle(dir, args);
  std::ifstream in(dir + "/config.json");
  nlohmann::json spec = nlohmann::json::parse(in);
  spec["linux"]["namespaces"].push_back({{"type", "network"}, {"path", netns_path}});
  std::ofstream(dir + "/config.json") << spec.dump(2);
  return dir;
}

// Reproduced from the issue: a spec naming the runtime's own (the host's)
// namespace left every host interface with a mirred filter stealing its
// traffic. It is host networking now: nothing is added, the guest has
// loopback only. Run inside a namespace that plays the host.
TEST(HostNetworkTest, TheHostsOwnNamespaceIsNeverMirrored) {
  TestNetns host("kt-host-" + std::to_string(getpid()));
  ASSERT_TRUE(host.ok());
  ASSERT_TRUE(host.Do("link add eth0 type veth peer name uplink0"));
  ASSERT_TRUE(host.Do("link set eth0 up") && host.Do("link set uplink0 up") && host.Do("addr add 10.123.0.2/24 dev eth0"));
  TempDir tmp;
  std::string id = UniqueId("hostns");
  BundleInNetns(tmp.path() + "/b", {"sh", "-c", "ip -o link | grep -c -v ' lo:'; echo ran"}, host.path());
  CmdResult r = itest::Run({"ip", "netns", "exec", host.name(), Runtime(), "run", "--bundle", tmp.path() + "/b", id});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ran"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(host.Qdiscs(), "") << "the host's interfaces were touched";
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

// A pod namespace must not hold a bridge or a physical device: such a
// namespace is refused, naming the interface, and left as it was.
TEST(HostNetworkTest, ANamespaceWithABridgeIsRefused) {
  TestNetns ns("kt-bridge-" + std::to_string(getpid()));
  ASSERT_TRUE(ns.ok());
  ASSERT_TRUE(ns.Do("link add eth0 type veth peer name peer0") && ns.Do("link set eth0 up"));
  ASSERT_TRUE(ns.Do("link add br0 type bridge") && ns.Do("link set br0 up"));
  TempDir tmp;
  std::string id = UniqueId("bridge");
  BundleInNetns(tmp.path() + "/b", {"true"}, ns.path());
  CmdResult r = itest::Run({Runtime(), "run", "--bundle", tmp.path() + "/b", id});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("br0 (a bridge)"), std::string::npos) << r.err;
  EXPECT_EQ(ns.Qdiscs(), "");
  itest::Run({Runtime(), "delete", "-f", id});
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

// What the sandbox adds to a pod's interfaces is removed at teardown, and
// after the service was killed, by the next `delete`.
TEST(HostNetworkTest, MirrorsAreRemovedAfterACrashByDelete) {
  TestNetns pod("kt-pod-" + std::to_string(getpid()));
  ASSERT_TRUE(pod.ok());
  ASSERT_TRUE(pod.Do("link add eth0 type veth peer name peer0") && pod.Do("link set eth0 up") &&
              pod.Do("addr add 10.124.0.2/24 dev eth0"));
  TempDir tmp;
  std::string id = UniqueId("crash");
  BundleInNetns(tmp.path() + "/b", {"sleep", "600"}, pod.path());
  ASSERT_EQ(itest::Run({Runtime(), "create", "--bundle", tmp.path() + "/b", id}).exit_code, 0);
  ASSERT_EQ(itest::Run({Runtime(), "start", id}).exit_code, 0);
  EXPECT_NE(pod.Qdiscs().find("ingress"), std::string::npos) << "the pod's eth0 is mirrored while it runs";
  ASSERT_EQ(Sh("pkill -KILL -f '[c]ontainerd-shim-kata-v2 .*-id " + id + " '").exit_code, 0);
  WaitUntil([&] { return Sh("pgrep -f '[c]ontainerd-shim-kata-v2 .*-id " + id + " '").exit_code != 0; }, 10s);
  // Once it is gone, a second in which nothing may take the mirror away: a
  // sleep, as what is checked is that nothing happens.
  std::this_thread::sleep_for(1s);
  EXPECT_NE(pod.Qdiscs().find("ingress"), std::string::npos) << "a killed service cannot clean up itself";
  CmdResult d = itest::Run({Runtime(), "delete", "-f", id});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(pod.Qdiscs(), "") << "delete removes what the dead service added";
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

// --- Medium 3: the same id under two roots ----------------------------

std::string ServicePidOf(const std::string& id) {
  return Trim(Sh("pgrep -f '[c]ontainerd-shim-kata-v2 .*-id " + id + " ' | head -1").out);
}

// A second sandbox with the id of a live one (another --root, another
// containerd namespace) is refused, and neither its failed create nor a
// clean-up in its name touches the live one.
TEST(OwnershipTest, TheSameIdUnderAnotherRootCannotTouchALiveSandbox) {
  TempDir tmp;
  std::string id = UniqueId("owned");
  MakeBundle(tmp.path() + "/b", {"sleep", "600"});
  std::string r1 = tmp.path() + "/root1", r2 = tmp.path() + "/root2";
  ASSERT_EQ(itest::Run({Runtime(), "--root", r1, "create", "--bundle", tmp.path() + "/b", id}).exit_code, 0);
  ASSERT_EQ(itest::Run({Runtime(), "--root", r1, "start", id}).exit_code, 0);
  std::string service = ServicePidOf(id);
  ASSERT_FALSE(service.empty());

  CmdResult second = itest::Run({Runtime(), "--root", r2, "run", "--bundle", tmp.path() + "/b", id});
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.err.find("is in use"), std::string::npos) << second.err;
  // containerd's clean-up of a dead shim with that id in another namespace.
  std::string shim = Trim(Sh("dirname " + Runtime()).out) + "/containerd-shim-kata-v2";
  Sh("cd " + tmp.path() + "/b && " + shim + " -namespace other -address /run/other.sock -id " + id + " delete");

  EXPECT_EQ(ServicePidOf(id), service) << "the live sandbox's service was killed";
  CmdResult e = itest::Run({Runtime(), "--root", r1, "exec", id, "echo", "alive"});
  EXPECT_EQ(Trim(e.out), "alive") << e.err;
  EXPECT_EQ(itest::Run({Runtime(), "--root", r1, "delete", "-f", id}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

// --- Medium 4: execs leave nothing behind ------------------------------

int FdCount(const std::string& pid) { return std::stoi(Trim(Sh("ls /proc/" + pid + "/fd | wc -l").out)); }

// Kubernetes exec probes run forever: neither the service nor the agent
// may keep anything of an exec once it was deleted.
TEST(ExecLeakTest, ThirtyExecsCostNoFds) {
  TempDir tmp;
  std::string id = UniqueId("execleak");
  MakeBundle(tmp.path() + "/b", {"sleep", "600"});
  {
    // No pid namespace: /proc/1 in the container is the agent.
    std::ifstream in(tmp.path() + "/b/config.json");
    nlohmann::json spec = nlohmann::json::parse(in);
    nlohmann::json kept = nlohmann::json::array();
    for (const auto& ns : spec["linux"]["namespaces"])
      if (ns["type"] != "pid") kept.push_back(ns);
    spec["linux"]["namespaces"] = kept;
    std::ofstream(tmp.path() + "/b/config.json") << spec.dump(2);
  }
  ASSERT_EQ(itest::Run({Runtime(), "create", "--bundle", tmp.path() + "/b", id}).exit_code, 0);
  ASSERT_EQ(itest::Run({Runtime(), "start", id}).exit_code, 0);
  std::string service = ServicePidOf(id);
  ASSERT_FALSE(service.empty());
  auto agent_fds = [&] { return Trim(itest::Run({Runtime(), "exec", id, "sh", "-c", "ls /proc/1/fd | wc -l"}).out); };
  std::string agent_before = agent_fds();
  int before = FdCount(service);
  for (int i = 0; i < 30; i++) {
    CmdResult r = itest::Run({Runtime(), "exec", id, "true"}, {}, "stdin data");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  int after = FdCount(service);
  // The last exec may still be retiring in the agent (its exit and the EOF
  // of its outputs race with the count's own exec): let it settle. A leak
  // (one fd or more per exec) never does.
  std::string agent_after;
  WaitUntil([&] { return (agent_after = agent_fds()) == agent_before; }, 10s, 300ms);
  std::printf("service fds %d -> %d, agent fds %s -> %s over 30 execs\n", before, after, agent_before.c_str(),
              agent_after.c_str());
  EXPECT_LE(after, before + 2) << "the service keeps fds of deleted execs";
  EXPECT_EQ(agent_after, agent_before) << "the agent keeps fds of finished execs";
  EXPECT_EQ(itest::Run({Runtime(), "delete", "-f", id}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

}  // namespace
}  // namespace kata::itest
