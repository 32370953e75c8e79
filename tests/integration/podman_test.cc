// Podman (with conmon) running its containers through kata-runtime, as a
// user would switch to it: `podman --runtime /usr/local/bin/kata-runtime`.
// The image is imported from a local busybox rootfs: no registry is needed.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "harness.h"

namespace kata::itest {
namespace {

const std::string kImage = "localhost/kata-it-busybox";

class PodmanTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    TempDir tmp;
    MakeBundle(tmp.path() + "/b", {"sh"});
    CmdResult r = Sh("tar -C " + tmp.path() + "/b/rootfs -cf " + tmp.path() + "/rootfs.tar . && podman import " +
                     tmp.path() + "/rootfs.tar " + kImage);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() { Sh("podman rm -af >/dev/null 2>&1; podman rmi -f " + kImage); }

  // podman with our runtime; this host's default ulimits exceed its limits.
  CmdResult Podman(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"podman", "--runtime", Runtime()};
    argv.insert(argv.end(), args.begin(), args.end());
    return itest::Run(argv);
  }
  CmdResult PodmanRun(std::vector<std::string> args) {
    args.insert(args.begin(), {"run", "--ulimit", "nofile=1024:1024"});
    return Podman(args);
  }
};

TEST_F(PodmanTest, RunRmPrintsTheGuestKernel) {
  CmdResult r = PodmanRun({"--rm", kImage, "uname", "-r"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Trim(r.out), GuestKernelRelease());
}

TEST_F(PodmanTest, ExitCodeComesBack) {
  EXPECT_EQ(PodmanRun({"--rm", kImage, "sh", "-c", "exit 3"}).exit_code, 3);
}

TEST_F(PodmanTest, TerminalContainer) {
  CmdResult r = PodmanRun({"--rm", "-t", kImage, "tty"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("/dev/pts/"), std::string::npos) << r.out;
}

TEST_F(PodmanTest, DetachedExecLogsPauseStopRm) {
  std::string name = UniqueId("pm");
  CmdResult d = PodmanRun({"-d", "--name", name, kImage, "sh", "-c", "echo started; sleep 600"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  CmdResult e = Podman({"exec", name, "sh", "-c", "echo exec-out; exit 5"});
  EXPECT_EQ(e.exit_code, 5) << e.err;
  EXPECT_EQ(Trim(e.out), "exec-out");
  CmdResult et = Podman({"exec", "-t", name, "tty"});
  EXPECT_NE(et.out.find("/dev/pts/"), std::string::npos) << et.out << et.err;
  EXPECT_EQ(Trim(Podman({"logs", name}).out), "started");
  EXPECT_EQ(Podman({"pause", name}).exit_code, 0);
  EXPECT_NE(Podman({"inspect", "-f", "{{.State.Status}}", name}).out.find("paused"), std::string::npos);
  EXPECT_EQ(Podman({"unpause", name}).exit_code, 0);
  EXPECT_EQ(Podman({"kill", "-s", "USR1", name}).exit_code, 0);
  // sh as PID 1 ignores TERM: stop must fall back to KILL after the timeout.
  EXPECT_EQ(Podman({"stop", "-t", "1", name}).exit_code, 0);
  EXPECT_NE(Podman({"inspect", "-f", "{{.State.ExitCode}}", name}).out.find("137"), std::string::npos);
  std::string id = Trim(Podman({"inspect", "-f", "{{.Id}}", name}).out);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(Podman({"rm", "-f", name}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

// `--cpus` and `--memory` reach the host: podman's cgroupsPath holds the
// VM, limited by them (the memory plus the VM's overhead), and goes with rm.
TEST_F(PodmanTest, LimitsApplyToTheVmOnTheHost) {
  std::string name = UniqueId("pmcg");
  CmdResult d = PodmanRun({"-d", "--name", name, "--cpus", "0.5", "--memory", "256m", kImage, "sleep", "600"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  std::string id = Trim(Podman({"inspect", "-f", "{{.Id}}", name}).out);
  std::string qemu = Trim(Sh("pgrep -f '[q]emu-system.*sandbox-" + id + "( |$)' | head -1").out);
  ASSERT_FALSE(qemu.empty());
  // The VMM's own cgroups, per controller, from /proc/PID/cgroup.
  auto dir_of = [&](const std::string& controller, const std::string& v2_file) {
    std::string v1 = Trim(Sh("awk -F: '$2 ~ /(^|,)" + controller + "(,|$)/ {print $3}' /proc/" + qemu + "/cgroup").out);
    if (!v1.empty()) return "/sys/fs/cgroup/" + controller + v1;
    std::string v2 = Trim(Sh("awk -F: '$2 == \"\" {print $3}' /proc/" + qemu + "/cgroup").out);
    return access(("/sys/fs/cgroup" + v2 + "/" + v2_file).c_str(), F_OK) == 0 ? "/sys/fs/cgroup" + v2 : "";
  };
  std::string mem = dir_of("memory", "memory.max"), cpu = dir_of("cpu", "cpu.max");
  ASSERT_FALSE(mem.empty());
  EXPECT_NE(mem.find(id), std::string::npos) << "the VM is not in podman's cgroup for the container: " << mem;
  std::string limit = Trim(Sh("cat " + mem + "/memory.limit_in_bytes 2>/dev/null || cat " + mem + "/memory.max").out);
  long long bytes = std::stoll("0" + limit);
  EXPECT_GE(bytes, 256ll << 20) << limit;
  EXPECT_LE(bytes, 768ll << 20) << limit;
  std::string quota = Trim(Sh("cat " + cpu + "/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 " + cpu + "/cpu.max").out);
  EXPECT_EQ(quota, "50000");
  EXPECT_EQ(Podman({"rm", "-f", name}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

// podman's CNI veth is mirrored to the VM's tap: the container's address
// and a published port answer from inside the VM (the body is the guest's
// kernel release, not the host's).
TEST_F(PodmanTest, NetworkReachesTheGuest) {
  std::string name = UniqueId("pmnet");
  CmdResult d = PodmanRun({"-d", "--name", name, "-p", "127.0.0.1:18080:8080", kImage, "sh", "-c",
                           ServeHttpCommand("uname -r", 8080)});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  std::string ip = Trim(Podman({"inspect", "-f", "{{.NetworkSettings.IPAddress}}", name}).out);
  ASSERT_FALSE(ip.empty());
  EXPECT_EQ(HttpGet("http://" + ip + ":8080/", 30), GuestKernelRelease()) << "container address " << ip;
  EXPECT_EQ(HttpGet("http://127.0.0.1:18080/", 10), GuestKernelRelease()) << "published port";
  CmdResult addr = Podman({"exec", name, "ip", "-4", "addr", "show", "eth0"});
  EXPECT_NE(addr.out.find("inet " + ip + "/"), std::string::npos) << addr.out << addr.err;
  CmdResult route = Podman({"exec", name, "ip", "route"});
  EXPECT_NE(route.out.find("default via"), std::string::npos) << route.out;
  std::string id = Trim(Podman({"inspect", "-f", "{{.Id}}", name}).out);
  EXPECT_EQ(Podman({"rm", "-f", "-t", "1", name}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

// A user namespace (`--uidmap`, as rootless podman and Kubernetes user
// namespaces give): the container's root is host uid 100000 in the guest,
// creates files, execs join the namespace, and podman, which sets up the
// network of such a container after create in /proc/<state.pid>/ns/net,
// reaches the pod's namespace (never the host's) and the guest gets it.
TEST_F(PodmanTest, UserNamespaceMapsRootAndGetsTheNetwork) {
  std::string name = UniqueId("pmuser");
  // Host links other than the host ends of podman's veths (on its bridge).
  const std::string kHostLinks = "ip -o link show | grep -vc 'master cni-podman0'";
  std::string host_links_before = Sh(kHostLinks).out;
  CmdResult d = PodmanRun({"-d", "--name", name, "--ulimit", "nproc=1024:1024", "--uidmap", "0:100000:65536",
                           "--gidmap", "0:100000:65536", kImage, "sh", "-c",
                           "cat /proc/self/uid_map; touch /made-by-root && echo made; sleep 600"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  std::string logs;
  WaitUntil([&] { return (logs = Podman({"logs", name}).out).find("made") != std::string::npos; }, 20s, 250ms);
  EXPECT_NE(logs.find("0     100000      65536"), std::string::npos) << logs;
  EXPECT_NE(logs.find("made"), std::string::npos) << logs;
  CmdResult e = Podman({"exec", name, "sh", "-c", "cat /proc/self/uid_map; id -u"});
  EXPECT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NE(e.out.find("100000"), std::string::npos) << e.out;
  std::string ip = Trim(Podman({"inspect", "-f", "{{.NetworkSettings.IPAddress}}", name}).out);
  ASSERT_FALSE(ip.empty());
  CmdResult addr = Podman({"exec", name, "ip", "-4", "addr", "show", "eth0"});
  EXPECT_NE(addr.out.find("inet " + ip + "/"), std::string::npos) << addr.out << addr.err;
  EXPECT_EQ(Sh(kHostLinks).out, host_links_before) << "podman configured the host's namespace";
  std::string id = Trim(Podman({"inspect", "-f", "{{.Id}}", name}).out);
  // podman 4.3 keeps a private mount namespace for a userns container (conmon
  // and its exit command run in it) that holds a copy of userdata/shm until
  // conmon is gone: an `rm -f` racing conmon's exit fails with "unlinkat
  // .../userdata/shm: device or resource busy", with runc as with us (seen
  // 1 in 4 with `podman --runtime runc`). Retry that one error, as a user would.
  CmdResult rm = Podman({"rm", "-f", "-t", "1", name});
  for (int i = 0; i < 5 && rm.exit_code != 0 && rm.err.find("resource busy") != std::string::npos; i++) {
    // A user's retry, paced by a sleep: the race is podman's own (conmon exiting).
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    rm = Podman({"rm", "-f", name});
  }
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

// Issue 15: a host block device (a loop device over a file) given with
// --device reaches the container, at the path asked for, as the VM's
// virtio-blk disk: a block node the container writes raw, and the host
// reads what it wrote from the loop device. Nothing is left attached.
TEST_F(PodmanTest, DeviceLoopBlockDeviceIsWritableInTheContainer) {
  TempDir tmp;
  std::string img = tmp.path() + "/disk.img";
  ASSERT_EQ(Sh("truncate -s 16M " + img).exit_code, 0);
  std::string loop = Trim(Sh("losetup --find --show " + img).out);
  ASSERT_EQ(loop.rfind("/dev/loop", 0), 0u) << loop;
  std::string name = UniqueId("pmblk");
  CmdResult r = PodmanRun({"--rm", "--name", name, "--device", loop + ":/dev/xvdc", kImage, "sh", "-c",
                           "ls -l /dev/xvdc; echo kata-was-here | dd of=/dev/xvdc bs=512 count=1 conv=sync,fsync "
                           "2>/dev/null && echo wrote"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("brw", 0), 0u) << r.out;  // a block device node
  EXPECT_NE(r.out.find("wrote"), std::string::npos) << r.out << r.err;
  EXPECT_NE(Sh("dd if=" + loop + " bs=512 count=1 2>/dev/null").out.find("kata-was-here"), std::string::npos);
  EXPECT_EQ(Sh("losetup -d " + loop).exit_code, 0) << "the loop device is still busy";
}

// rootfs_image_in_guest with podman's overlay storage: the image's layers
// reach the guest as one cached disk (built by the first run, reused by the
// second), the container writes to guest memory, a volume still works.
TEST_F(PodmanTest, ImageLayersAsADiskWithPodmansOverlayStorage) {
  TempDir tmp;
  std::string cache = tmp.path() + "/cache", conf = tmp.path() + "/image.toml", rt = tmp.path() + "/kata-image";
  std::ofstream(conf) << "[runtime]\nrootfs_writes_in_guest = true\nrootfs_image_in_guest = true\n"
                      << "rootfs_image_cache_dir = \"" << cache << "\"\n";
  std::ofstream(rt) << "#!/bin/sh\nKATA_CONF_FILE=" << conf << " exec " << Runtime() << " \"$@\"\n";
  ASSERT_EQ(chmod(rt.c_str(), 0755), 0);
  ASSERT_EQ(Sh("mkdir -p " + tmp.path() + "/vol && echo on-host > " + tmp.path() + "/vol/f").exit_code, 0);
  std::string inode;
  for (int round = 0; round < 2; round++) {
    CmdResult r = itest::Run({"podman", "--runtime", rt, "run", "--rm", "--ulimit", "nofile=1024:1024", "-v",
                              tmp.path() + "/vol:/vol", kImage, "sh", "-c",
                              "grep ' / ' /proc/mounts | grep -c kata-root-0; echo new > /bin/new && cat /bin/new "
                              "/vol/f"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "1\nnew\non-host\n") << r.err;
    std::string now = Trim(Sh("ls -i " + cache + "/*.img").out);
    EXPECT_FALSE(now.empty()) << "no image in " << cache;
    if (round == 0) inode = now;
    EXPECT_EQ(now, inode) << "one image, built once";
  }
}

// A pod on two podman networks: its VM boots with a NIC per interface and
// the guest answers on both addresses.
TEST_F(PodmanTest, TwoNetworksBothReachTheGuest) {
  std::string net = UniqueId("kata-it-net");
  ASSERT_EQ(Sh("podman network create --subnet 10.89.177.0/24 " + net + " >/dev/null").exit_code, 0);
  std::string name = UniqueId("pm2net");
  CmdResult d = PodmanRun({"-d", "--name", name, "--network", "podman," + net, kImage, "sh", "-c",
                           ServeHttpCommand("uname -r", 8080)});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  std::string ips = Trim(Podman({"inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name}).out);
  std::vector<std::string> addrs;
  for (size_t p = 0; p < ips.size();) {
    size_t e = ips.find(' ', p);
    if (e == std::string::npos) e = ips.size();
    if (e > p) addrs.push_back(ips.substr(p, e - p));
    p = e + 1;
  }
  EXPECT_EQ(addrs.size(), 2u) << ips;
  for (const std::string& ip : addrs) {
    EXPECT_EQ(HttpGet("http://" + ip + ":8080/", 30), GuestKernelRelease()) << "address " << ip;
  }
  CmdResult links = Podman({"exec", name, "ip", "-4", "-o", "addr"});
  for (const std::string& ip : addrs) EXPECT_NE(links.out.find("inet " + ip + "/"), std::string::npos) << links.out;
  std::string id = Trim(Podman({"inspect", "-f", "{{.Id}}", name}).out);
  EXPECT_EQ(Podman({"rm", "-f", "-t", "1", name}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
  EXPECT_EQ(Sh("podman network rm " + net + " >/dev/null").exit_code, 0);
}

}  // namespace
}  // namespace kata::itest
