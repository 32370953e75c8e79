// The VM cache end to end: `kata-runtime factory init` with vm_cache_number
// serving warm VMs, sandboxes of kata-runtime and of containerd's shim taking
// them, the cache refilling, and sandboxes that cannot use it booting their
// own VM. One cache server (one VM kept ready) serves the whole suite.
// $KATA_TEST_GUEST_DIR: the guest to boot (default /usr/share/kata-containers).
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include "containerd_env.h"
#include "docker_env.h"
#include "harness.h"

namespace kata::itest {
namespace {

std::string GuestDir() {
  const char* d = std::getenv("KATA_TEST_GUEST_DIR");
  return d && *d ? d : "/usr/share/kata-containers";
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

class VmCacheTest : public ::testing::Test {
 protected:
  static inline TempDir* tmp = nullptr;
  static inline pid_t server = -1;
  static inline std::string bundle;

  static std::string Endpoint() { return tmp->path() + "/cache.sock"; }
  static std::string ServerLog() { return tmp->path() + "/server.log"; }
  static std::string WriteConfig(const std::string& name, int memory_mib, const std::string& endpoint) {
    std::string path = tmp->path() + "/" + name;
    std::ofstream(path) << "[hypervisor.qemu]\n"
                        << "kernel = \"" << GuestDir() << "/vmlinux.container\"\n"
                        << "initrd = \"" << GuestDir() << "/kata-containers-initrd.img\"\n"
                        << "default_memory = " << memory_mib << "\n"
                        << "shared_fs = \"virtio-9p\"\n"  // the cache cannot hand over a virtiofsd
                        << "[factory]\n"
                        << "vm_cache_number = 1\n"
                        << "vm_cache_endpoint = \"" << endpoint << "\"\n";
    return path;
  }
  static std::string Conf() { return WriteConfig("cache.toml", 256, Endpoint()); }
  static CmdResult Kata(std::vector<std::string> args, const std::string& conf = Conf()) {
    args.insert(args.begin(), Runtime());
    return itest::Run(args, {{"KATA_CONF_FILE", conf}});
  }
  // The VMs the server handed over so far: "vmcache-... (pid N)".
  static std::vector<std::pair<std::string, pid_t>> Handed() {
    std::vector<std::pair<std::string, pid_t>> out;
    std::string log = ReadAll(ServerLog());
    std::regex re("handed (vmcache-[0-9-]+) \\(pid ([0-9]+)\\) over");
    for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it) {
      out.emplace_back((*it)[1].str(), static_cast<pid_t>(std::stol((*it)[2].str())));
    }
    return out;
  }
  static bool WaitReady(int seconds) {
    return WaitUntil(
        [] {
          return Kata({"factory", "status"}).out.find("vm_cache: serving, 1 of 1 VMs ready, warmed up") !=
                 std::string::npos;
        },
        std::chrono::seconds(seconds));
  }

  static void SetUpTestSuite() {
    tmp = new TempDir();
    bundle = tmp->path() + "/bundle";
    MakeBundle(bundle, {"sh", "-c", "echo from-guest; hostname"});
    StartServer();
  }
  // The server runs in a cgroup of its own (as under a service manager), so
  // that a sandbox taking a VM can be seen to move its QEMU into its own.
  static std::string ServerCgroup() {
    std::string base = access("/sys/fs/cgroup/pids", F_OK) == 0 ? "/sys/fs/cgroup/pids" : "/sys/fs/cgroup";
    return base + "/kata-itest-vmcache-" + std::to_string(getpid());
  }
  // The pids (v1) or unified (v2) line of /proc/PID/cgroup.
  static std::string CgroupOf(const std::string& pid) {
    bool v1 = access("/sys/fs/cgroup/pids", F_OK) == 0;
    return Trim(Sh("grep '" + std::string(v1 ? ":pids:" : "^0::") + "' /proc/" + pid + "/cgroup").out);
  }
  static void StartServer() {
    std::string conf = Conf();
    std::string cgroup = ServerCgroup();
    mkdir(cgroup.c_str(), 0755);
    server = fork();
    if (server == 0) {
      setsid();
      std::ofstream(cgroup + "/cgroup.procs") << "0\n";
      std::string log = ServerLog();
      FILE* f = freopen(log.c_str(), "w", stderr);
      FILE* o = freopen(log.c_str(), "a", stdout);
      (void)f;
      (void)o;
      setenv("KATA_CONF_FILE", conf.c_str(), 1);
      execl(Runtime().c_str(), "kata-runtime", "factory", "init", static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  static void TearDownTestSuite() {
    CmdResult d = Kata({"factory", "destroy"});
    EXPECT_EQ(d.exit_code, 0) << d.err;
    int status = 0;
    WaitUntil([&] { return waitpid(server, &status, WNOHANG) != 0; }, 30s);
    if (waitpid(server, &status, WNOHANG) == 0) {
      ADD_FAILURE() << "the VM cache server did not stop on factory destroy";
      kill(server, SIGKILL);
      waitpid(server, &status, 0);
    }
    EXPECT_EQ(Trim(Sh("pgrep -a -f '[q]emu-system.*sandbox-vmcache-" + std::to_string(server) + "-' || true").out), "")
        << "cached VMs left running";
    EXPECT_EQ(Trim(Sh("ls -d /run/vc/vm/vmcache-" + std::to_string(server) +
                      "-* /run/kata-containers/shared/sandboxes/vmcache-" + std::to_string(server) +
                      "-* /run/kata-containers/vmcache/" + std::to_string(server) + " 2>/dev/null || true")
                       .out),
              "")
        << "cache directories left";
    EXPECT_NE(access(Endpoint().c_str(), F_OK), 0) << "endpoint socket left";
    WaitUntil([] { return rmdir(ServerCgroup().c_str()) == 0 || errno != EBUSY; }, 10s);
    EXPECT_NE(access(ServerCgroup().c_str(), F_OK), 0) << "processes left in the server's cgroup";
    delete tmp;
    tmp = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(WaitReady(120)) << "no warm VM in the cache: " << ReadAll(ServerLog()); }
};

// The handed-over VM's QEMU is the sandbox's: gone after delete.
void ExpectGone(pid_t pid) {
  WaitUntil([&] { return kill(pid, 0) != 0; }, 10s);
  EXPECT_NE(kill(pid, 0), 0) << "QEMU " << pid << " of the cached VM still runs";
}

TEST_F(VmCacheTest, RunTakesAWarmVmAndTheCacheRefills) {
  size_t before = Handed().size();
  std::string id = UniqueId("cached");
  CmdResult r = Kata({"run", "--bundle", bundle, id});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from-guest\nkata\n");
  auto handed = Handed();
  ASSERT_EQ(handed.size(), before + 1) << ReadAll(ServerLog());
  EXPECT_EQ(LeaksAfter(id, 10), "");
  ExpectGone(handed.back().second);
  EXPECT_NE(access(("/run/vc/vm/" + handed.back().first).c_str(), F_OK), 0) << "the VM's old directory is left";
  EXPECT_TRUE(WaitReady(60)) << "the cache did not make a new VM: " << ReadAll(ServerLog());
}

TEST_F(VmCacheTest, ContainerdShimTakesAWarmVm) {
  TempDir dir;
  setenv("KATA_CONF_FILE", Conf().c_str(), 1);  // the shim inherits containerd's environment
  PrivateContainerd ctrd(dir.path());
  std::string why;
  ASSERT_TRUE(ctrd.Start(&why)) << why;
  unsetenv("KATA_CONF_FILE");
  ASSERT_TRUE(ctrd.ImportImage(&why)) << why;
  ASSERT_TRUE(WaitReady(60));
  size_t before = Handed().size();
  std::string id = UniqueId("ctr-cached");
  CmdResult r = ctrd.Ctr({"run", "--rm", "--runtime", "io.containerd.kata.v2", PrivateContainerd::kImage, id, "cat",
                          "/proc/version"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Linux version " + GuestKernelRelease()), std::string::npos) << r.out;
  auto handed = Handed();
  ASSERT_EQ(handed.size(), before + 1) << ReadAll(ServerLog());
  ctrd.Stop();
  EXPECT_EQ(LeaksAfter(id, 10), "");
  ExpectGone(handed.back().second);
}

TEST_F(VmCacheTest, KilledSandboxServiceIsCleanedUpByDelete) {
  size_t before = Handed().size();
  std::string id = UniqueId("cached-kill");
  std::string pidfile = tmp->path() + "/" + id + ".pid";
  CmdResult c = Sh("KATA_CONF_FILE=" + Conf() + " " + Runtime() + " create --bundle " + bundle + " --pid-file " +
                   pidfile + " " + id + " </dev/null >/dev/null 2>" + tmp->path() + "/create.err");
  ASSERT_EQ(c.exit_code, 0) << ReadAll(tmp->path() + "/create.err");
  auto handed = Handed();
  ASSERT_EQ(handed.size(), before + 1);
  // The adopted QEMU left the server's cgroup for the sandbox service's.
  std::string service = Trim(Sh("pgrep -f '[c]ontainerd-shim-kata-v2 .*-id " + id + " '").out);
  std::string qemu = std::to_string(handed.back().second);
  EXPECT_NE(CgroupOf(qemu), "");
  EXPECT_EQ(CgroupOf(qemu), CgroupOf(service));
  EXPECT_NE(CgroupOf(qemu), CgroupOf(std::to_string(server)));
  // The service holding the adopted VM dies without cleaning up.
  CmdResult k = Sh("pkill -KILL -f '[c]ontainerd-shim-kata-v2 .*-id " + id + " '");
  EXPECT_EQ(k.exit_code, 0) << "no sandbox service found for " << id;
  CmdResult d = Kata({"delete", "--force", id});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  ExpectGone(handed.back().second);
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

// A pod namespace with a path (podman's bridge network): the cached VM's tap
// moves into it, and the guest answers on the pod's address and a published
// port.
TEST_F(VmCacheTest, PodmanNetworkReachesACachedVm) {
  const std::string image = "localhost/kata-it-vmcache-busybox";
  TempDir dir;
  MakeBundle(dir.path() + "/b", {"sh"});
  ASSERT_EQ(Sh("tar -C " + dir.path() + "/b/rootfs -cf " + dir.path() + "/rootfs.tar . && podman import -q " +
               dir.path() + "/rootfs.tar " + image + " >/dev/null")
                .exit_code,
            0);
  auto podman = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"podman", "--runtime", Runtime(), "--runtime-flag", "config=" + Conf()});
    return itest::Run(args);
  };
  size_t before = Handed().size();
  std::string name = UniqueId("pm-cached");
  CmdResult d = podman({"run", "--ulimit", "nofile=1024:1024", "-d", "--name", name, "-p", "127.0.0.1:18090:8080",
                        image, "sh", "-c", ServeHttpCommand("uname -r", 8080)});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(Handed().size(), before + 1) << "podman's sandbox did not take the cached VM";
  std::string ip = Trim(podman({"inspect", "-f", "{{.NetworkSettings.IPAddress}}", name}).out);
  EXPECT_EQ(HttpGet("http://" + ip + ":8080/", 30), GuestKernelRelease()) << "container address " << ip;
  EXPECT_EQ(HttpGet("http://127.0.0.1:18090/", 10), GuestKernelRelease()) << "published port";
  std::string id = Trim(podman({"inspect", "-f", "{{.Id}}", name}).out);
  EXPECT_EQ(podman({"rm", "-f", "-t", "1", name}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
  Sh("podman rmi -f " + image + " >/dev/null 2>&1");
}

// A network namespace without a path (docker): docker's hook moves the
// veth into the VMM's namespace, which for a cached VM is the one the cache
// made for it.
TEST_F(VmCacheTest, DockerNetworkReachesACachedVm) {
  TempDir dir;
  PrivateDockerd dockerd(dir.path());
  std::string why;
  // dockerd -> containerd -> runc shim -> kata-runtime inherit the configuration.
  ASSERT_TRUE(dockerd.Start(&why, {{"KATA_CONF_FILE", Conf()}})) << why;
  ASSERT_TRUE(WaitReady(60));
  size_t before = Handed().size();
  CmdResult r = dockerd.Docker({"run", "-d", "--name", "dk-cached", "--runtime", "kata", "-p", "127.0.0.1:18092:8080",
                                PrivateDockerd::kImage, "sh", "-c", ServeHttpCommand("uname -r", 8080)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Handed().size(), before + 1) << "docker's sandbox did not take the cached VM";
  EXPECT_EQ(HttpGet("http://127.0.0.1:18092/", 30), GuestKernelRelease()) << "published port";
  std::string id = Trim(dockerd.Docker({"inspect", "-f", "{{.Id}}", "dk-cached"}).out);
  EXPECT_EQ(dockerd.Docker({"rm", "-f", "dk-cached"}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

TEST_F(VmCacheTest, SandboxOfAnotherShapeBootsItsOwnVm) {
  size_t before = Handed().size();
  std::string id = UniqueId("other-shape");
  std::string bigger = WriteConfig("bigger.toml", 384, Endpoint());
  std::string status = Kata({"factory", "status"}, bigger).out;
  EXPECT_NE(status.find("vm_cache_stale: the cached VMs are made differently: memory_mib changed"), std::string::npos)
      << status;
  EXPECT_EQ(Kata({"factory", "status"}).out.find("vm_cache_stale"), std::string::npos);
  CmdResult r = Kata({"run", "--bundle", bundle, id}, bigger);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from-guest\nkata\n");
  EXPECT_EQ(Handed().size(), before) << "a VM of another memory size was handed over";
  EXPECT_TRUE(WaitReady(1)) << "the cache lost its VM";
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

TEST_F(VmCacheTest, NoCacheServingMeansABoot) {
  std::string id = UniqueId("no-cache");
  CmdResult r = Kata({"run", "--bundle", bundle, id}, WriteConfig("nobody.toml", 256, tmp->path() + "/nobody.sock"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from-guest\nkata\n");
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

TEST_F(VmCacheTest, VmsOfAKilledServerAreRemovedByTheNextOne) {
  std::string old_server = std::to_string(server);
  std::string ready = Trim(Sh("pgrep -f '[q]emu-system.*sandbox-vmcache-" + old_server + "-' || true").out);
  ASSERT_NE(ready, "") << "no QEMU of the server's ready VM";
  pid_t qemu = static_cast<pid_t>(std::stol(ready));
  kill(server, SIGKILL);
  waitpid(server, nullptr, 0);
  // A moment in which the VM must NOT die with its server: a sleep, as what
  // is checked is that nothing happens.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(kill(qemu, 0), 0) << "a cached VM died with its server: it could not have been handed over";
  StartServer();
  ASSERT_TRUE(WaitReady(120)) << ReadAll(ServerLog());
  ExpectGone(qemu);
  EXPECT_EQ(Trim(Sh("ls -d /run/vc/vm/vmcache-" + old_server + "-* /run/kata-containers/shared/sandboxes/vmcache-" +
                    old_server + "-* /run/kata-containers/vmcache/" + old_server + " 2>/dev/null || true")
                     .out),
            "");
}

TEST_F(VmCacheTest, SecondServerOnTheSameEndpointIsRefused) {
  CmdResult r = Kata({"factory", "init"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("already serves at " + Endpoint()), std::string::npos) << r.err;
  EXPECT_TRUE(WaitReady(1)) << "the first server was disturbed";
}

}  // namespace
}  // namespace kata::itest
