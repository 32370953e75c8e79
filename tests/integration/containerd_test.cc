// containerd-shim-kata-v2 driven by a real containerd 1.6 (started privately
// by the suite) through ctr: run/exec/ps/kill, exit codes, events in order,
// a two-container pod in one VM (CRI annotations), and faults (containerd
// restarted, shim SIGKILLed, QEMU killed) with leak checks.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include <functional>

#include "containerd_env.h"
#include "harness.h"

namespace kata::itest {
namespace {

constexpr const char* kRuntime = "io.containerd.kata.v2";

class ContainerdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    ctd_ = new PrivateContainerd(tmp_->path());
    std::string why;
    if (!ctd_->Start(&why) || !ctd_->ImportImage(&why)) {
      setup_error_ = why;
      return;
    }
  }
  static void TearDownTestSuite() {
    if (ctd_) {
      ctd_->RemoveAll();
      ctd_->Stop();
    }
    delete ctd_;
    ctd_ = nullptr;
    // Anything a crashed case left: our shims are the ones serving our containerd.
    Sh("pkill -9 -f '[c]ontainerd-shim-kata-v2 .*-address " + tmp_->path() + "/' || true");
    delete tmp_;
  }
  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }
  void TearDown() override {
    for (const auto& id : ids_) {
      ctd_->Ctr({"task", "kill", "-s", "KILL", id}, 30);
      ctd_->Ctr({"task", "rm", "-f", id}, 60);
      ctd_->Ctr({"container", "rm", id}, 30);
    }
    for (const auto& id : ids_) EXPECT_EQ(LeaksAfter(id, 15), "") << id;
  }

  std::string NewId(const std::string& base) {
    ids_.push_back(UniqueId(base));
    return ids_.back();
  }
  CmdResult Ctr(const std::vector<std::string>& args, int timeout_s = 120) { return ctd_->Ctr(args, timeout_s); }

  // `ctr run -d` with the kata runtime; extra flags (annotations) before the image.
  void RunDetached(const std::string& id, const std::vector<std::string>& flags, const std::vector<std::string>& cmd) {
    std::vector<std::string> args = {"run", "-d", "--runtime", kRuntime};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back(PrivateContainerd::kImage);
    args.push_back(id);
    args.insert(args.end(), cmd.begin(), cmd.end());
    CmdResult r = Ctr(args);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  std::string TaskStatus(const std::string& id) {
    CmdResult r = Ctr({"task", "ls"}, 30);
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
      std::istringstream f(line);
      std::string task, pid, status;
      f >> task >> pid >> status;
      if (task == id) return status;
    }
    return "";
  }
  bool WaitStatus(const std::string& id, const std::string& want, int seconds) {
    return WaitUntil([&] { return TaskStatus(id) == want; }, std::chrono::seconds(seconds), 200ms);
  }
  // Until the `ctr events` writing to `events` is subscribed: it reports a
  // label set on our namespace (a /namespaces/update event), set again on
  // every try since only what comes after the subscription is reported.
  bool WaitSubscribed(const std::string& events) {
    int probe = 0;
    bool seen = WaitUntil(
        [&] {
          Ctr({"namespaces", "label", PrivateContainerd::kNamespace, "kata-itest-probe=" + std::to_string(++probe)}, 30);
          std::ifstream in(events);
          std::string text((std::istreambuf_iterator<char>(in)), {});
          return text.find("/namespaces/update") != std::string::npos;
        },
        10s, 50ms);
    Ctr({"namespaces", "label", PrivateContainerd::kNamespace, "kata-itest-probe="}, 30);  // cleared
    return seen;
  }
  CmdResult Exec(const std::string& id, const std::string& exec_id, const std::vector<std::string>& cmd) {
    std::vector<std::string> args = {"task", "exec", "--exec-id", exec_id, id};
    args.insert(args.end(), cmd.begin(), cmd.end());
    return Ctr(args);
  }
  std::string ShimPid(const std::string& id) {
    return Trim(Sh("pgrep -f '[c]ontainerd-shim-kata-v2 .*-id " + id + " ' | head -1").out);
  }
  std::string QemuPid(const std::string& sandbox_id) {
    return Trim(Sh("cat /run/vc/vm/" + sandbox_id + "/qemu.pid 2>/dev/null").out);
  }

  static inline TempDir* tmp_ = nullptr;
  static inline PrivateContainerd* ctd_ = nullptr;
  static inline std::string setup_error_;
  std::vector<std::string> ids_;
};

TEST_F(ContainerdTest, RunRmPrintsGuestKernelRelease) {
  std::string id = NewId("uname");
  CmdResult r = Ctr({"run", "--rm", "--runtime", kRuntime, PrivateContainerd::kImage, id, "uname", "-r"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Trim(r.out), GuestKernelRelease());
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

TEST_F(ContainerdTest, TerminalTask) {
  // ctr -t needs its own stdin to be a terminal: `script` gives it one.
  std::string id = NewId("tty");
  CmdResult r = Sh("script -qec \"" + ctd_->CtrShellPrefix() + " run --rm -t --runtime " + kRuntime + " " +
                   PrivateContainerd::kImage + " " + id + " sh -c 'tty; stty size'\" /dev/null < /dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("/dev/pts/"), std::string::npos) << r.out;
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

TEST_F(ContainerdTest, ExitCodeAndStdinPropagate) {
  std::string id = NewId("exit");
  CmdResult r = Ctr({"run", "--rm", "--runtime", kRuntime, PrivateContainerd::kImage, id, "sh", "-c",
                     "echo out; echo err >&2; exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.out << r.err;
  EXPECT_EQ(Trim(r.out), "out");
  EXPECT_EQ(Trim(r.err), "err");
  std::string id2 = NewId("stdin");
  CmdResult in = ctd_->Ctr({"run", "--rm", "--runtime", kRuntime, PrivateContainerd::kImage, id2, "sh", "-c",
                            "read line; echo got:$line"},
                           120, "hello\n");
  EXPECT_EQ(in.exit_code, 0) << in.out << in.err;
  EXPECT_EQ(Trim(in.out), "got:hello");
}

// A container that allocates past its memory limit is OOM-killed in the
// guest; containerd must hear of it as TaskOOM (/tasks/oom), from which CRI
// reports the container's reason "OOMKilled".
TEST_F(ContainerdTest, OomKillInTheGuestIsPublishedAsTaskOom) {
  std::string id = NewId("oom");
  std::string events = tmp_->path() + "/events-" + id;
  std::string ev_pid = Trim(Sh(ctd_->CtrShellPrefix() + " events > " + events + " 2>&1 </dev/null & echo $!").out);
  EXPECT_TRUE(WaitSubscribed(events)) << "ctr events: " << Sh("cat " + events).out;
  // dd's 64 MiB block is one allocation: more than the 32 MiB limit allows.
  CmdResult r = Ctr({"run", "--rm", "--runtime", kRuntime, "--memory-limit", std::to_string(32 << 20), PrivateContainerd::kImage,
                     id, "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=4"});
  EXPECT_EQ(r.exit_code, 137) << r.out << r.err;
  std::string oom;
  WaitUntil([&] { return !(oom = Sh("grep ' /tasks/oom ' " + events + " | grep " + id + " || true").out).empty(); }, 10s,
            250ms);
  Sh("kill " + ev_pid);
  EXPECT_NE(oom, "") << Sh("cat " + events).out;
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

TEST_F(ContainerdTest, DetachedExecPsKillAndEventsInOrder) {
  std::string id = NewId("detach");
  std::string events = tmp_->path() + "/events-" + id;
  CmdResult ev = Sh(ctd_->CtrShellPrefix() + " events > " + events + " 2>&1 </dev/null & echo $!");
  std::string ev_pid = Trim(ev.out);
  EXPECT_TRUE(WaitSubscribed(events)) << "ctr events: " << Sh("cat " + events).out;

  RunDetached(id, {}, {"sleep", "1000"});
  EXPECT_EQ(TaskStatus(id), "RUNNING");
  CmdResult e = Exec(id, "e1", {"sh", "-c", "echo exec-out; echo exec-err >&2; exit 3"});
  EXPECT_EQ(e.exit_code, 3) << e.out << e.err;
  EXPECT_EQ(Trim(e.out), "exec-out");
  EXPECT_EQ(Trim(e.err), "exec-err");
  CmdResult ps = Ctr({"task", "ps", id});
  EXPECT_EQ(ps.exit_code, 0) << ps.err;
  EXPECT_NE(ps.out.find("PID"), std::string::npos) << ps.out;
  // Metrics come from the container's cgroup in the guest (cgroups v2 Metrics).
  CmdResult m = Ctr({"task", "metrics", id});
  EXPECT_EQ(m.exit_code, 0) << m.err;
  EXPECT_NE(m.out.find("pids.current"), std::string::npos) << m.out;
  EXPECT_EQ(Ctr({"task", "pause", id}).exit_code, 0);
  EXPECT_EQ(TaskStatus(id), "PAUSED");
  EXPECT_EQ(Ctr({"task", "resume", id}).exit_code, 0);
  EXPECT_EQ(TaskStatus(id), "RUNNING");
  // KILL: busybox sleep as the container's PID 1 ignores TERM (as under runc).
  CmdResult k = Ctr({"task", "kill", "-s", "KILL", id});
  EXPECT_EQ(k.exit_code, 0) << k.err;
  EXPECT_TRUE(WaitStatus(id, "STOPPED", 30)) << TaskStatus(id);
  CmdResult rm = Ctr({"task", "rm", id});
  EXPECT_EQ(rm.exit_code, 0) << rm.out << rm.err;
  EXPECT_EQ(Ctr({"container", "rm", id}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");

  // The last event wanted below reaches the file.
  WaitUntil([&] { return Sh("grep ' /tasks/delete ' " + events + " | grep -q " + id).exit_code == 0; }, 10s);
  Sh("kill " + ev_pid);
  std::ifstream in(events);
  std::vector<std::string> topics;
  for (std::string line; std::getline(in, line);) {
    if (line.find(id) == std::string::npos) continue;
    for (const char* t : {"/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started", "/tasks/exit",
                          "/tasks/paused", "/tasks/resumed", "/tasks/delete"}) {
      if (line.find(std::string(" ") + t + " ") != std::string::npos) topics.push_back(t);
    }
  }
  std::vector<std::string> want = {"/tasks/create",  "/tasks/start",  "/tasks/exec-added", "/tasks/exec-started",
                                   "/tasks/exit",    "/tasks/paused", "/tasks/resumed",    "/tasks/exit",
                                   "/tasks/delete"};
  std::string got;
  for (auto& t : topics) got += t + " ";
  EXPECT_EQ(topics, want) << got << "\n" << Sh("cat " + events).out;
}

// A CRI pod: the sandbox (pause) container makes the VM, a container with
// container-type=container joins it through the same shim.
TEST_F(ContainerdTest, TwoContainerPodSharesOneVm) {
  std::string pod = NewId("pod");
  std::string app = NewId("app");
  RunDetached(pod, {"--annotation", "io.kubernetes.cri.container-type=sandbox", "--annotation",
                    "io.kubernetes.cri.sandbox-id=" + pod, "--annotation",
                    "io.kubernetes.cri.sandbox-memory=" + std::to_string(300LL << 20)},
              {"sleep", "1000"});
  RunDetached(app, {"--annotation", "io.kubernetes.cri.container-type=container", "--annotation",
                    "io.kubernetes.cri.sandbox-id=" + pod},
              {"sh", "-c", "echo app > /marker; sleep 1000"});
  // One shim and one VM serve both.
  EXPECT_NE(ShimPid(pod), "");
  EXPECT_EQ(ShimPid(app), "");
  EXPECT_NE(QemuPid(pod), "");
  EXPECT_EQ(QemuPid(app), "");
  std::string cmdline = Sh("tr '\\0' ' ' < /proc/" + QemuPid(pod) + "/cmdline").out;
  // QEMU has default_maxmemory of RAM (the VM may grow); the guest kernel
  // boots on what sandbox-memory asks for.
  EXPECT_NE(cmdline.find(" mem=300M"), std::string::npos) << "sandbox-memory did not size the VM: " << cmdline;
  CmdResult b1 = Exec(pod, "b1", {"cat", "/proc/sys/kernel/random/boot_id"});
  CmdResult b2 = Exec(app, "b2", {"cat", "/proc/sys/kernel/random/boot_id"});
  ASSERT_EQ(b1.exit_code, 0) << b1.err;
  ASSERT_EQ(b2.exit_code, 0) << b2.err;
  EXPECT_FALSE(Trim(b1.out).empty());
  EXPECT_EQ(Trim(b1.out), Trim(b2.out));
  // Each its own rootfs.
  EXPECT_EQ(Trim(Exec(app, "m1", {"cat", "/marker"}).out), "app");
  EXPECT_NE(Exec(pod, "m2", {"cat", "/marker"}).exit_code, 0);
  // The app container goes first, the sandbox (and the VM) last.
  EXPECT_EQ(Ctr({"task", "kill", "-s", "KILL", app}).exit_code, 0);
  EXPECT_TRUE(WaitStatus(app, "STOPPED", 30));
  EXPECT_EQ(Ctr({"task", "rm", app}).exit_code, 0);
  EXPECT_EQ(TaskStatus(pod), "RUNNING") << "removing a pod container must not stop the pod";
  EXPECT_EQ(Ctr({"task", "kill", "-s", "KILL", pod}).exit_code, 0);
  EXPECT_TRUE(WaitStatus(pod, "STOPPED", 30));
  EXPECT_EQ(Ctr({"task", "rm", pod}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(pod, 15), "");
}

// Disks for a container that joins a running pod (issue 15): the VM booted
// for the pause container, so the app's ext4 volume (a loop device named as
// an ext4 mount's source) and its raw block device are plugged in while it
// runs; the guest mounts the one and exposes the other; when the app is
// removed both are unplugged (QEMU no longer holds them: the loop devices
// detach) while the pod keeps running; what the app wrote is on the disks.
TEST_F(ContainerdTest, DisksArePluggedIntoARunningPodAndOutWithTheContainer) {
  std::string dir = tmp_->path() + "/hotplug";
  std::string img = dir + "/vol.img", raw = dir + "/raw.img";
  ASSERT_EQ(Sh("mkdir -p " + dir + "/src && echo from-the-host > " + dir + "/src/hello && truncate -s 32M " + img +
               " && mkfs.ext4 -q -d " + dir + "/src " + img + " && truncate -s 1M " + raw).exit_code, 0);
  std::string vol_loop = Trim(Sh("losetup --find --show " + img).out);
  std::string raw_loop = Trim(Sh("losetup --find --show " + raw).out);
  ASSERT_EQ(vol_loop.rfind("/dev/loop", 0), 0u) << vol_loop;
  ASSERT_EQ(raw_loop.rfind("/dev/loop", 0), 0u) << raw_loop;
  struct DetachAtEnd {  // also when an assertion ends the case early
    std::string loops;
    ~DetachAtEnd() { Sh("losetup -d " + loops + " 2>/dev/null"); }
  } detach{vol_loop + " " + raw_loop};
  std::string pod = NewId("hppod");
  std::string app = NewId("hpapp");
  RunDetached(pod, {"--annotation", "io.kubernetes.cri.container-type=sandbox", "--annotation",
                    "io.kubernetes.cri.sandbox-id=" + pod},
              {"sleep", "1000"});
  RunDetached(app, {"--annotation", "io.kubernetes.cri.container-type=container", "--annotation",
                    "io.kubernetes.cri.sandbox-id=" + pod, "--mount",
                    "type=ext4,src=" + vol_loop + ",dst=/data,options=rw", "--device", raw_loop},
              {"sh", "-c", "echo from-guest > /data/g && printf raw-from-guest | dd of=" + raw_loop +
                               " conv=fsync 2>/dev/null; sleep 1000"});
  CmdResult hello = Exec(app, "h", {"cat", "/data/hello"});
  EXPECT_EQ(Trim(hello.out), "from-the-host") << hello.err;
  CmdResult fs = Exec(app, "f", {"sh", "-c", "grep ' /data ' /proc/mounts | cut -d' ' -f3"});
  EXPECT_EQ(Trim(fs.out), "ext4") << "not the guest's own mount of the disk: " << fs.out << fs.err;
  std::string qemu = QemuPid(pod);
  ASSERT_NE(qemu, "");
  auto qemu_holds = [&](const std::string& loop) {
    return Sh("ls -l /proc/" + qemu + "/fd | grep -q ' " + loop + "$'").exit_code == 0;
  };
  EXPECT_TRUE(qemu_holds(vol_loop) && qemu_holds(raw_loop)) << Sh("ls -l /proc/" + qemu + "/fd").out;
  EXPECT_EQ(Ctr({"task", "kill", "-s", "KILL", app}).exit_code, 0);
  EXPECT_TRUE(WaitStatus(app, "STOPPED", 30));
  EXPECT_EQ(Ctr({"task", "rm", app}).exit_code, 0);
  // Unplugged when the delete returns: the guest let go at once.
  EXPECT_FALSE(qemu_holds(vol_loop)) << "QEMU still holds " << vol_loop << "\n"
                                     << Sh("grep -h -i 'disk' " + tmp_->path() + "/containerd.log | tail -20").out;
  EXPECT_FALSE(qemu_holds(raw_loop)) << "QEMU still holds " << raw_loop;
  EXPECT_EQ(TaskStatus(pod), "RUNNING");
  EXPECT_EQ(Trim(Sh("debugfs -R 'cat /g' " + img + " 2>/dev/null").out), "from-guest");
  EXPECT_EQ(Trim(Sh("head -c 14 " + raw).out), "raw-from-guest");
  EXPECT_EQ(Sh("losetup -d " + vol_loop + " " + raw_loop).exit_code, 0) << Sh("losetup -a").out;
}

// A direct volume of a container joining the pod (plugged in): the shim
// answers `kata-runtime direct-volume stats` and `resize` for it, and
// forgets it with the container.
TEST_F(ContainerdTest, DirectVolumeOfAJoiningContainerIsStatedAndGrown) {
  std::string dir = tmp_->path() + "/dvol";
  std::string img = dir + "/vol.img", vol = dir + "/volume-path";
  ASSERT_EQ(Sh("mkdir -p " + vol + " && truncate -s 32M " + img + " && mkfs.ext4 -q " + img).exit_code, 0);
  auto kata = [](std::vector<std::string> args) {
    args.insert(args.begin(), Runtime());
    return itest::Run(args);
  };
  ASSERT_EQ(kata({"direct-volume", "add", "--volume-path", vol, "--mount-info",
                  "{\"device\": \"" + img + "\", \"fs_type\": \"ext4\"}"}).exit_code, 0);
  struct RemoveAtEnd {
    std::function<void()> f;
    ~RemoveAtEnd() { f(); }
  } remove{[&] { kata({"direct-volume", "remove", "--volume-path", vol}); }};
  std::string pod = NewId("dvpod");
  std::string app = NewId("dvapp");
  RunDetached(pod, {"--annotation", "io.kubernetes.cri.container-type=sandbox", "--annotation",
                    "io.kubernetes.cri.sandbox-id=" + pod},
              {"sleep", "1000"});
  RunDetached(app, {"--annotation", "io.kubernetes.cri.container-type=container", "--annotation",
                    "io.kubernetes.cri.sandbox-id=" + pod, "--mount",
                    "type=bind,src=" + vol + ",dst=/data,options=rbind:rw"},
              {"sleep", "1000"});
  CmdResult stats = kata({"direct-volume", "stats", "--volume-path", vol});
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_NE(stats.out.find("\"unit\":1"), std::string::npos) << stats.out;
  CmdResult grow = kata({"direct-volume", "resize", "--volume-path", vol, "--size", std::to_string(64 << 20)});
  EXPECT_EQ(grow.exit_code, 0) << grow.err;
  CmdResult df = Exec(app, "df", {"sh", "-c", "df -k /data | tail -1 | awk '{print $2}'"});
  EXPECT_GT(std::atol(df.out.c_str()), 48 << 10) << "the container sees the grown volume: " << df.out << df.err;
  EXPECT_EQ(Ctr({"task", "kill", "-s", "KILL", app}).exit_code, 0);
  EXPECT_TRUE(WaitStatus(app, "STOPPED", 30));
  EXPECT_EQ(Ctr({"task", "rm", app}).exit_code, 0);
  CmdResult gone = kata({"direct-volume", "stats", "--volume-path", vol});
  EXPECT_NE(gone.err.find("not mounted by any running sandbox"), std::string::npos) << gone.err;
  EXPECT_EQ(TaskStatus(pod), "RUNNING");
}

// containerd's runtime options name the pod's configuration file (`ctr run
// --runtime-config-path`, the CRI plugin's ConfigPath), as in Kata: here one
// with rootfs_image_in_guest. The pod's image becomes a disk at boot; the
// app container of the same image joins and shares that disk; a path that
// does not exist fails the run naming it.
TEST_F(ContainerdTest, RuntimeConfigPathChoosesTheConfigurationAndImageLayersBecomeADisk) {
  std::string dir = tmp_->path() + "/runtime-options";
  std::string conf = dir + "/configuration-image.toml", cache = dir + "/cache";
  ASSERT_EQ(Sh("mkdir -p " + dir).exit_code, 0);
  std::ofstream(conf) << "[runtime]\nrootfs_writes_in_guest = true\nrootfs_image_in_guest = true\n"
                      << "rootfs_image_cache_dir = \"" << cache << "\"\n";
  std::string pod = NewId("ropod");
  std::string app = NewId("roapp");
  RunDetached(pod, {"--runtime-config-path", conf, "--annotation", "io.kubernetes.cri.container-type=sandbox",
                    "--annotation", "io.kubernetes.cri.sandbox-id=" + pod},
              {"sleep", "1000"});
  RunDetached(app, {"--annotation", "io.kubernetes.cri.container-type=container", "--annotation",
                    "io.kubernetes.cri.sandbox-id=" + pod},
              {"sleep", "1000"});
  for (const std::string& id : {pod, app}) {
    CmdResult root = Exec(id, "root-" + id, {"sh", "-c", "grep ' / ' /proc/mounts; echo w > /etc/w && cat /etc/w"});
    EXPECT_EQ(root.exit_code, 0) << root.err;
    EXPECT_NE(root.out.find("/kata-root-0,upperdir="), std::string::npos) << id << ": " << root.out;
    EXPECT_NE(root.out.find("\nw\n"), std::string::npos) << root.out;
  }
  EXPECT_EQ(Trim(Sh("ls " + cache + " | grep -c '[.]img$'").out), "1") << "one image for the one image";
  std::string bad = NewId("robad");
  CmdResult r = Ctr({"run", "-d", "--runtime", kRuntime, "--runtime-config-path", dir + "/missing.toml",
                     PrivateContainerd::kImage, bad, "true"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.out + r.err).find(dir + "/missing.toml"), std::string::npos) << r.out << r.err;
}

// Resources that follow the pod: the VM boots with one vCPU online; a
// container joining with a 2-CPU limit finds two online (as many as the host
// has, if fewer), and they go offline again when it leaves.
TEST_F(ContainerdTest, AContainerJoiningThePodGetsTheCpusAndMemoryItAsksFor) {
  std::string pod = NewId("cpupod");
  std::string app = NewId("cpuapp");
  RunDetached(pod, {"--annotation", "io.kubernetes.cri.container-type=sandbox", "--annotation",
                    "io.kubernetes.cri.sandbox-id=" + pod},
              {"sleep", "1000"});
  auto online = [&](const std::string& id, const std::string& exec_id) {
    return Trim(Exec(id, exec_id, {"cat", "/sys/devices/system/cpu/online"}).out);
  };
  // MemTotal in MiB, as the guest kernel counts it (less than the RAM it
  // was given: the kernel's own image and tables).
  auto mem_total_mib = [&](const std::string& id, const std::string& exec_id) {
    std::string out = Exec(id, exec_id, {"sh", "-c", "head -1 /proc/meminfo"}).out;
    size_t digits = out.find_first_of("0123456789");
    return digits == std::string::npos ? -1L : std::stol(out.substr(digits)) / 1024;
  };
  EXPECT_EQ(online(pod, "o1"), "0");
  long boot_mib = mem_total_mib(pod, "m1");
  EXPECT_GT(boot_mib, 128);
  EXPECT_LE(boot_mib, 256) << "the VM boots with default_memory (256 MiB), not its maximum";
  RunDetached(app, {"--cpus", "2", "--memory-limit", std::to_string(512 << 20), "--annotation",
                    "io.kubernetes.cri.container-type=container", "--annotation", "io.kubernetes.cri.sandbox-id=" + pod},
              {"sleep", "1000"});
  std::string want = std::min(2L, sysconf(_SC_NPROCESSORS_ONLN)) == 2 ? "0-1" : "0";
  EXPECT_EQ(online(app, "o2"), want);
  EXPECT_EQ(Trim(Exec(app, "n", {"nproc"}).out), want == "0-1" ? "2" : "1");
  // 256 MiB for the guest plus the container's 512, in 128 MiB blocks.
  EXPECT_GE(mem_total_mib(app, "m2"), boot_mib + 512) << "the VM grew by the container's memory limit";
  // The container can have it: a 400 MiB buffer, filled (more than the
  // whole VM had at boot).
  CmdResult fill = Exec(app, "fill", {"sh", "-c", "dd if=/dev/zero of=/dev/null bs=400M count=1 2>&1 && echo filled"});
  EXPECT_NE(fill.out.find("filled"), std::string::npos) << fill.out << fill.err;
  EXPECT_EQ(Ctr({"task", "kill", "-s", "KILL", app}).exit_code, 0);
  EXPECT_TRUE(WaitStatus(app, "STOPPED", 30));
  EXPECT_EQ(Ctr({"task", "rm", app}).exit_code, 0);
  EXPECT_EQ(online(pod, "o3"), "0") << "the vCPUs the container needed go offline with it";
  EXPECT_EQ(Ctr({"task", "kill", "-s", "KILL", pod}).exit_code, 0);
  EXPECT_TRUE(WaitStatus(pod, "STOPPED", 30));
  EXPECT_EQ(Ctr({"task", "rm", pod}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(pod, 15), "");
}

// containerd's CRI port forward (kubectl port-forward) dials localhost:PORT
// in the pod's network namespace on the host: the connection must reach the
// server in the guest, a closed port must refuse, and the redirect must be
// gone from the namespace after the pod.
TEST_F(ContainerdTest, PortForwardFromThePodNamespaceReachesTheGuest) {
  PodNetns netns("kt-pf-" + std::to_string(getpid()));
  ASSERT_TRUE(netns.ok());
  std::string pod = NewId("pf");
  RunDetached(pod, {"--with-ns", "network:" + netns.path(), "--annotation", "io.kubernetes.cri.container-type=sandbox",
                    "--annotation", "io.kubernetes.cri.sandbox-id=" + pod},
              {"sh", "-c", ServeHttpCommand("echo served-in-the-guest", 8080)});
  std::string in_ns = "ip netns exec " + netns.name() + " ";
  std::string body;
  for (int i = 0; i < 40 && body.empty(); i++) {
    CmdResult r = Sh(in_ns + "curl -sf -m 5 http://localhost:8080/");
    if (r.exit_code == 0) body = Trim(r.out);
    else std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a wait by tries, each bounded by curl's -m
  }
  EXPECT_EQ(body, "served-in-the-guest");
  // Several at once, each its own relay.
  CmdResult many = Sh("for i in 1 2 3 4; do " + in_ns + "curl -sf -m 10 http://127.0.0.1:8080/ & done; wait");
  size_t served = 0;
  for (size_t at = many.out.find("served-in-the-guest"); at != std::string::npos; at = many.out.find("served-in-the-guest", at + 1)) served++;
  EXPECT_EQ(served, 4u) << many.out << many.err;
  CmdResult closed = Sh(in_ns + "curl -s -m 10 http://localhost:8081/");
  EXPECT_NE(closed.exit_code, 0) << "a port nothing listens on in the guest must refuse";
  EXPECT_NE(Sh("ip netns exec " + netns.name() + " nft list tables").out.find("kata_port_forward"), std::string::npos);
  EXPECT_EQ(Ctr({"task", "kill", "-s", "KILL", pod}).exit_code, 0);
  EXPECT_TRUE(WaitStatus(pod, "STOPPED", 30));
  EXPECT_EQ(Ctr({"task", "rm", pod}).exit_code, 0);
  EXPECT_EQ(Sh("ip netns exec " + netns.name() + " nft list tables").out.find("kata_port_forward"), std::string::npos)
      << "the redirect outlived the pod";
  EXPECT_EQ(netns.EthIngress(), 0) << "the pod's eth0 is still mirrored";
}

// Kubernetes' HostToContainer (rslave) volume, in CRI's order: the pod (its
// service and VM) starts, then the host makes the volume a shared mount,
// then the container starts, then the host mounts something below it: the
// container must see that mount. (This host's root mount is private, so
// only the caller's mount namespace, not the service's, receives it.)
TEST_F(ContainerdTest, RslaveVolumeReceivesHostMountsMadeAfterThePodStarted) {
  std::string pod = NewId("prop");
  std::string app = NewId("propapp");
  RunDetached(pod, {"--annotation", "io.kubernetes.cri.container-type=sandbox", "--annotation", "io.kubernetes.cri.sandbox-id=" + pod},
              {"sleep", "1000"});
  std::string host = tmp_->path() + "/prop-" + app;
  ASSERT_EQ(Sh("mkdir -p " + host + "/vol/sub " + host + "/src && touch " + host + "/src/flagFile && mount --bind " + host +
               "/vol " + host + "/vol && mount --make-rshared " + host + "/vol")
                .exit_code,
            0);
  RunDetached(app, {"--annotation", "io.kubernetes.cri.container-type=container", "--annotation", "io.kubernetes.cri.sandbox-id=" + pod,
                    "--mount", "type=bind,src=" + host + "/vol,dst=/vol,options=rbind:rslave"},
              {"sleep", "1000"});
  ASSERT_EQ(Sh("mount --bind " + host + "/src " + host + "/vol/sub").exit_code, 0);
  CmdResult ls = Exec(app, "ls", {"ls", "-A", "/vol/sub"});
  EXPECT_EQ(Trim(ls.out), "flagFile") << ls.err;
  Sh("umount " + host + "/vol/sub; umount " + host + "/vol");
  EXPECT_EQ(Sh("grep -c " + host + " /proc/self/mountinfo").out, "0\n") << "a host mount was left behind";
}

// Kubernetes' Bidirectional (rshared) volume, guest to host: a mount the
// container makes below the volume (a bind of its /etc, as critest does)
// appears on the host at the same place once the exec that made it returns,
// goes when the container unmounts it, and none is left after the pod.
TEST_F(ContainerdTest, RsharedVolumeShowsTheContainersMountsOnTheHost) {
  std::string pod = NewId("rsh");
  std::string host = tmp_->path() + "/rsh-" + pod;
  ASSERT_EQ(Sh("mkdir -p " + host + "/vol && mount --bind " + host + "/vol " + host + "/vol && mount --make-rshared " +
               host + "/vol").exit_code, 0);
  RunDetached(pod, {"--privileged", "--mount", "type=bind,src=" + host + "/vol,dst=/vol,options=rbind:rshared"},
              {"sleep", "1000"});
  CmdResult m = Exec(pod, "m1", {"sh", "-c", "mkdir -p /vol/etc && mount --bind /etc /vol/etc && echo mounted"});
  ASSERT_NE(m.out.find("mounted"), std::string::npos) << m.out << m.err;
  EXPECT_NE(Sh("ls -A " + host + "/vol/etc").out.find("passwd"), std::string::npos) << "the guest's mount is not on the host";
  EXPECT_EQ(Sh("mountpoint -q " + host + "/vol/etc").exit_code, 0);
  // A tmpfs of the guest's own has no host equivalent: not mirrored.
  Exec(pod, "m2", {"sh", "-c", "mkdir -p /vol/tmp && mount -t tmpfs t /vol/tmp && touch /vol/tmp/guest-only"});
  EXPECT_NE(Sh("mountpoint -q " + host + "/vol/tmp").exit_code, 0);
  Exec(pod, "u1", {"umount", "/vol/etc"});
  EXPECT_NE(Sh("mountpoint -q " + host + "/vol/etc").exit_code, 0) << "the guest's unmount was not mirrored";
  Exec(pod, "m3", {"mount", "--bind", "/etc", "/vol/etc"});
  EXPECT_EQ(Sh("mountpoint -q " + host + "/vol/etc").exit_code, 0);
  EXPECT_EQ(Ctr({"task", "kill", "-s", "KILL", pod}).exit_code, 0);
  EXPECT_TRUE(WaitStatus(pod, "STOPPED", 30));
  EXPECT_EQ(Ctr({"task", "rm", pod}).exit_code, 0);
  EXPECT_NE(Sh("mountpoint -q " + host + "/vol/etc").exit_code, 0) << "a mirror outlived the container";
  Sh("umount " + host + "/vol");  // the test's own, named after the pod
  EXPECT_EQ(Sh("grep -c " + host + " /proc/self/mountinfo").out, "0\n") << "a host mount was left behind";
  EXPECT_EQ(LeaksAfter(pod, 15), "");
}

// As containerd's CRI asks: the pod's containers join the sandbox
// container's pid, ipc and uts namespaces by /proc/<task pid>/ns/<type>,
// where the task pid is the one the shim reported for the sandbox (the VMM's).
TEST_F(ContainerdTest, PodContainersShareTheSandboxNamespaces) {
  std::string pod = NewId("nspod");
  std::string app = NewId("nsapp");
  RunDetached(pod, {"--privileged", "--annotation", "io.kubernetes.cri.container-type=sandbox", "--annotation",
                    "io.kubernetes.cri.sandbox-id=" + pod},
              {"sh", "-c", "hostname kata-pod-host && exec sleep 1000"});
  std::string qemu = QemuPid(pod);
  ASSERT_NE(qemu, "");
  std::string ns = "/proc/" + qemu + "/ns/";
  RunDetached(app, {"--annotation", "io.kubernetes.cri.container-type=container", "--annotation",
                    "io.kubernetes.cri.sandbox-id=" + pod, "--with-ns", "pid:" + ns + "pid", "--with-ns",
                    "ipc:" + ns + "ipc", "--with-ns", "uts:" + ns + "uts"},
              {"sleep", "1000"});
  for (const char* type : {"pid", "ipc", "uts"}) {
    std::string t = type;
    CmdResult in_pod = Exec(pod, "p" + t, {"readlink", "/proc/self/ns/" + t});
    CmdResult in_app = Exec(app, "a" + t, {"readlink", "/proc/self/ns/" + t});
    ASSERT_EQ(in_pod.exit_code, 0) << in_pod.err;
    EXPECT_EQ(Trim(in_app.out), Trim(in_pod.out)) << t << " namespace not shared";
  }
  // One process tree: the sandbox's init is pid 1 in the app container too.
  EXPECT_EQ(Trim(Exec(app, "init", {"cat", "/proc/1/cmdline"}).out).substr(0, 5), "sleep");
  EXPECT_EQ(Trim(Exec(app, "host", {"hostname"}).out), "kata-pod-host");
  // Not pid 1 of a namespace of its own: SIGTERM's default action stops it.
  EXPECT_EQ(Ctr({"task", "kill", "-s", "TERM", app}).exit_code, 0);
  EXPECT_TRUE(WaitStatus(app, "STOPPED", 30)) << "SIGTERM did not stop a container in the pod's pid namespace";
}

// The init of a container's own pid namespace ignores a signal it has no
// handler for. Sent right after the start, SIGTERM can find `top` before its
// handler exists (under TCG the gap is long): the agent delivers it again
// once the handler is there (agent/init_signal.h), so the stop does not wait
// out Kubernetes' grace period for the SIGKILL.
TEST_F(ContainerdTest, TermRightAfterStartStopsAPidNamespaceInit) {
  std::string id = NewId("term");
  RunDetached(id, {}, {"top", "-b", "-d", "1000"});
  EXPECT_EQ(Ctr({"task", "kill", "-s", "TERM", id}).exit_code, 0);
  EXPECT_TRUE(WaitStatus(id, "STOPPED", 30)) << "SIGTERM sent at start was lost";
}

TEST_F(ContainerdTest, ContainerdRestartKeepsTasksControllable) {
  std::string id = NewId("restart");
  RunDetached(id, {}, {"sleep", "1000"});
  ctd_->Stop(/*crash=*/true);
  std::string why;
  ASSERT_TRUE(ctd_->Start(&why)) << why;
  EXPECT_EQ(TaskStatus(id), "RUNNING");
  CmdResult e = Exec(id, "after", {"echo", "still-here"});
  EXPECT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(Trim(e.out), "still-here");
  EXPECT_EQ(Ctr({"task", "kill", "-s", "KILL", id}).exit_code, 0);
  EXPECT_TRUE(WaitStatus(id, "STOPPED", 30)) << TaskStatus(id);
  EXPECT_EQ(Ctr({"task", "rm", id}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 15), "");
}

TEST_F(ContainerdTest, ShimKilledIsCleanedUpByDelete) {
  std::string id = NewId("shimkill");
  RunDetached(id, {}, {"sleep", "1000"});
  std::string shim = ShimPid(id);
  ASSERT_NE(shim, "");
  Sh("kill -9 " + shim);
  // containerd sees the connection drop, runs `containerd-shim-kata-v2 delete`,
  // publishes the exit itself and forgets the task (1.6 drops it from the list).
  std::string status;
  WaitUntil([&] { return (status = TaskStatus(id)) != "RUNNING"; }, 30s, 200ms);
  EXPECT_TRUE(status == "" || status == "STOPPED") << status;
  EXPECT_EQ(LeaksAfter(id, 15), "");
  if (status == "STOPPED") {
    EXPECT_EQ(Ctr({"task", "rm", id}).exit_code, 0);
  }
  CmdResult rm = Ctr({"container", "rm", id});
  EXPECT_EQ(rm.exit_code, 0) << rm.out << rm.err;
}

TEST_F(ContainerdTest, QemuKilledStopsEveryTaskOfThePod) {
  std::string pod = NewId("vmdie");
  std::string app = NewId("vmdie-app");
  RunDetached(pod, {"--annotation", "io.kubernetes.cri.container-type=sandbox", "--annotation",
                    "io.kubernetes.cri.sandbox-id=" + pod},
              {"sleep", "1000"});
  RunDetached(app, {"--annotation", "io.kubernetes.cri.container-type=container", "--annotation",
                    "io.kubernetes.cri.sandbox-id=" + pod},
              {"sleep", "1000"});
  std::string qemu = QemuPid(pod);
  ASSERT_NE(qemu, "");
  Sh("kill -9 " + qemu);
  EXPECT_TRUE(WaitStatus(pod, "STOPPED", 30)) << TaskStatus(pod);
  EXPECT_TRUE(WaitStatus(app, "STOPPED", 30)) << TaskStatus(app);
  EXPECT_EQ(Ctr({"task", "rm", app}).exit_code, 0);
  EXPECT_EQ(Ctr({"task", "rm", pod}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(pod, 15), "");
}

}  // namespace
}  // namespace kata::itest
