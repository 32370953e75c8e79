// Container launcher tests: real namespaces and mounts on this host (root
// required; skipped otherwise). The rootfs is a temp dir with a static
// busybox. Every test checks that no mount leaked into its caller's mount
// namespace, a private copy of the host's (OwnMountNamespace).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "private_mounts.h"
#include "agent/container/launch.h"
#include "busybox_rootfs.h"

namespace kata::agent {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

using test_util::ReadAll;
using test_util::WaitStatus;

// The test process gets a mount namespace of its own, private, before any
// thread starts: the mount-table check of each test then sees this process's
// mounts only, not those of a test beside it (ctest -j: one of them binds a
// rootfs for a while), and nothing mounted here reaches the host.
class OwnMountNamespace : public ::testing::Environment {
 public:
  void SetUp() override {
    if (geteuid() != 0) return;
    ASSERT_TRUE(kata::test_util::EnterPrivateMountNamespace());
  }
};
const auto* const kOwnMountNamespace = ::testing::AddGlobalTestEnvironment(new OwnMountNamespace);

// Like the agent's reaper: reaps every child until `pid` is among them. A
// pid namespace's init cannot finish dying while a zombie of that namespace
// (here: a failed exec, our child) is unreaped.
int ReapUntil(pid_t pid) {
  for (;;) {
    int status = 0;
    pid_t w = waitpid(-1, &status, 0);
    if (w == pid) return status;
    if (w < 0 && errno != EINTR) return -1;
  }
}

oci::Mount M(std::string dest, std::string type, std::string source, std::vector<std::string> opts = {}) {
  return oci::Mount{std::move(dest), std::move(type), std::move(source), std::move(opts)};
}

class ContainerLaunchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    base_ = test_util::MakeBusyboxRootfs("kata-launch-test", {"/secretdir", "/rodir"}, "/home/user");
    rootfs_ = base_ + "/rootfs";
    WriteFile(rootfs_ + "/marker", "rootfs-marker\n");
    WriteFile(rootfs_ + "/secret", "top secret\n");
    WriteFile(rootfs_ + "/secretdir/file", "hidden\n");
  }

  static void TearDownTestSuite() {
    if (!base_.empty()) {
      EXPECT_EQ(system(("rm -rf " + base_).c_str()), 0);
    }
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    mounts_before_ = ReadFile("/proc/self/mounts");
  }

  void TearDown() override {
    if (geteuid() != 0) return;
    EXPECT_EQ(ReadFile("/proc/self/mounts"), mounts_before_) << "a mount leaked into the host";
  }

  static oci::Spec BaseSpec(std::vector<std::string> args) {
    oci::Spec s;
    s.oci_version = "1.0.2";
    s.root.path = rootfs_;
    oci::Process p;
    p.args = std::move(args);
    p.env = {"PATH=/bin", "FOO=bar"};
    p.cwd = "/";
    s.process = p;
    s.hostname = "testbox";
    s.mounts = {
        M("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
        M("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
        M("/dev/pts", "devpts", "devpts", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
        M("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
        M("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
        M("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
        M("/sys/fs/cgroup", "cgroup", "cgroup", {"ro"}),  // skipped for now
        M("/tmp", "tmpfs", "tmpfs", {"nosuid", "nodev"}),
    };
    s.linux_config = oci::Linux{};
    // What runc's default spec lists; a type left out is shared with the caller.
    s.linux_config->namespaces = {{"pid", ""}, {"mount", ""}, {"ipc", ""}, {"uts", ""}};
    return s;
  }

  static LaunchSpec Spec(std::vector<std::string> args) {
    LaunchSpec ls;
    ls.spec = BaseSpec(std::move(args));
    ls.rootfs = rootfs_;
    ls.reap_on_failure = true;
    return ls;
  }

  struct RunResult {
    std::string out;
    int status = -1;
  };

  // Launch + Start, stdout (and stderr) captured, waits for exit.
  static RunResult Run(LaunchSpec ls) {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    ls.stdout_fd = p[1];
    ls.stderr_fd = p[1];
    auto c = Launch(ls);
    close(p[1]);
    RunResult r;
    if (!c.ok()) {
      ADD_FAILURE() << "Launch: " << c.status().message();
      close(p[0]);
      return r;
    }
    Status st = (*c)->Start();
    EXPECT_TRUE(st.ok()) << st.message();
    r.out = ReadAll(p[0]);
    close(p[0]);
    r.status = WaitStatus((*c)->pid());
    return r;
  }

  static std::string base_;
  static std::string rootfs_;
  std::string mounts_before_;
};

std::string ContainerLaunchTest::base_;
std::string ContainerLaunchTest::rootfs_;

TEST_F(ContainerLaunchTest, RunsProcessWithSpecIdentity) {
  LaunchSpec ls = Spec({"sh", "-c", "echo $$; hostname; id -u; pwd; echo $FOO; echo $HOME"});
  ls.spec.process->user.uid = 1000;
  ls.spec.process->user.gid = 1000;
  ls.spec.process->cwd = "/tmp";
  RunResult r = Run(ls);
  EXPECT_EQ(r.out, "1\ntestbox\n1000\n/tmp\nbar\n/home/user\n");
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.status;
}

TEST_F(ContainerLaunchTest, DoesNotRunBeforeStart) {
  LaunchSpec ls = Spec({"sh", "-c", "echo started"});
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  ls.stdout_fd = p[1];
  auto c = Launch(ls);
  close(p[1]);
  ASSERT_TRUE(c.ok()) << c.status().message();
  struct pollfd pfd = {p[0], POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 300), 0) << "output before Start()";
  // Blocked before exec: still our clone, not sh.
  std::string comm = ReadFile("/proc/" + std::to_string((*c)->pid()) + "/comm");
  EXPECT_NE(comm, "sh\n");
  ASSERT_TRUE((*c)->Start().ok());
  EXPECT_EQ(ReadAll(p[0]), "started\n");
  close(p[0]);
  EXPECT_EQ(WaitStatus((*c)->pid()), 0);
  Status again = (*c)->Start();
  EXPECT_EQ(again.code(), Code::kFailedPrecondition);
}

TEST_F(ContainerLaunchTest, ExitStatusReachesCaller) {
  RunResult r = Run(Spec({"sh", "-c", "exit 3"}));
  ASSERT_TRUE(WIFEXITED(r.status));
  EXPECT_EQ(WEXITSTATUS(r.status), 3);
}

TEST_F(ContainerLaunchTest, ProcSysAndDevicesAreSetUp) {
  RunResult r = Run(Spec(
      {"sh", "-c",
       "grep -c '^proc /proc proc' /proc/mounts; cat /proc/1/cmdline | tr '\\0' ' '; echo;"
       "test -c /dev/null && test -c /dev/zero && test -c /dev/full && test -c /dev/random &&"
       " test -c /dev/urandom && test -c /dev/tty && echo devices;"
       "readlink /dev/ptmx; readlink /dev/fd; readlink /dev/stdin; test -c /dev/pts/ptmx && echo pts;"
       "echo x > /dev/null && head -c 5 /dev/zero | wc -c;"
       "test -d /sys/kernel && echo sys; grep -c ' /sys/fs/cgroup ' /proc/mounts;"
       "touch /sys/x 2>/dev/null || echo sys-ro; cat /marker"}));
  std::vector<std::string> lines;
  std::stringstream ss(r.out);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  ASSERT_GE(lines.size(), 12u) << r.out;
  EXPECT_EQ(lines[0], "1");
  EXPECT_EQ(lines[1].rfind("sh -c ", 0), 0u);
  EXPECT_EQ(lines[2], "devices");
  EXPECT_EQ(lines[3], "pts/ptmx");
  EXPECT_EQ(lines[4], "/proc/self/fd");
  EXPECT_EQ(lines[5], "/proc/self/fd/0");
  EXPECT_EQ(lines[6], "pts");
  EXPECT_EQ(lines[7], "5");
  EXPECT_EQ(lines[8], "sys");
  EXPECT_EQ(lines[9], "0");  // cgroup mount skipped
  EXPECT_EQ(lines[10], "sys-ro");
  EXPECT_EQ(lines[11], "rootfs-marker");
}

TEST_F(ContainerLaunchTest, BadMountNamesTheMount) {
  LaunchSpec ls = Spec({"true"});
  ls.spec.mounts.push_back(M("/bad", "nosuchfs", "none"));
  auto c = Launch(ls);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "mount none on /bad: No such device");

  LaunchSpec ls2 = Spec({"true"});
  ls2.spec.mounts.push_back(M("/data", "bind", "/nonexistent/src", {"rbind"}));
  auto c2 = Launch(ls2);
  ASSERT_FALSE(c2.ok());
  EXPECT_EQ(c2.status().message(), "mount /nonexistent/src on /data: No such file or directory");
  EXPECT_EQ(c2.status().code(), Code::kNotFound);

  LaunchSpec ls3 = Spec({"true"});
  ls3.spec.mounts.push_back(M("/rel", "bind", "relative/src", {"bind"}));
  auto c3 = Launch(ls3);
  ASSERT_FALSE(c3.ok());
  EXPECT_NE(c3.status().message().find("must be an absolute path"), std::string::npos);
}

TEST_F(ContainerLaunchTest, BindMountsWithOptions) {
  std::string src = base_ + "/vol";
  ASSERT_EQ(mkdir(src.c_str(), 0755), 0);
  WriteFile(src + "/data.txt", "volume-data\n");
  WriteFile(base_ + "/single", "single-file\n");
  LaunchSpec ls = Spec({"sh", "-c",
                        "cat /mnt/vol/data.txt; touch /mnt/vol/new 2>/dev/null || echo vol-ro;"
                        "cat /etc/single; grep ' /mnt/vol ' /proc/mounts | grep -c 'ro,nosuid'"});
  ls.spec.mounts.push_back(M("/mnt/vol", "bind", src, {"rbind", "ro", "nosuid", "rprivate"}));
  ls.spec.mounts.push_back(M("/etc/single", "none", base_ + "/single", {"bind"}));
  RunResult r = Run(ls);
  EXPECT_EQ(r.out, "volume-data\nvol-ro\nsingle-file\n1\n");
  EXPECT_EQ(ReadFile(base_ + "/vol/data.txt"), "volume-data\n");
  EXPECT_NE(access((src + "/new").c_str(), F_OK), 0);
}

TEST_F(ContainerLaunchTest, SymlinkedMountPointStaysInsideRootfs) {
  // /escape -> /../../<host dir>: resolved inside the rootfs, so the mount
  // point "sub" must not be created in the host directory.
  std::string host_dir = base_ + "/host-target";
  ASSERT_EQ(mkdir(host_dir.c_str(), 0755), 0);
  ASSERT_EQ(symlink(("/../../../.." + host_dir).c_str(), (rootfs_ + "/escape").c_str()), 0);
  LaunchSpec ls = Spec({"sh", "-c", "test -d /escape/sub && echo ok"});
  ls.spec.mounts.push_back(M("/escape/sub", "tmpfs", "tmpfs"));
  RunResult r = Run(ls);
  EXPECT_EQ(r.out, "ok\n");
  EXPECT_NE(access((host_dir + "/sub").c_str(), F_OK), 0) << "mount point created outside the rootfs";
  unlink((rootfs_ + "/escape").c_str());

  // A relative link climbing out, into a directory that exists only on the host.
  ASSERT_EQ(symlink("../../../../../../../../../../etc", (rootfs_ + "/etc-link").c_str()), 0);
  LaunchSpec ls2 = Spec({"sh", "-c", "test -d /etc/kata-escape-test && echo inside"});
  ls2.spec.mounts.push_back(M("/etc-link/kata-escape-test", "tmpfs", "tmpfs"));
  RunResult r2 = Run(ls2);
  EXPECT_EQ(r2.out, "inside\n");
  EXPECT_NE(access("/etc/kata-escape-test", F_OK), 0) << "mount point created in the host's /etc";
  unlink((rootfs_ + "/etc-link").c_str());
  rmdir((rootfs_ + "/etc/kata-escape-test").c_str());
}

TEST_F(ContainerLaunchTest, ExecutableNotFound) {
  auto c = Launch(Spec({"nosuchcmd", "x"}));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "exec: \"nosuchcmd\": executable file not found in $PATH");
  EXPECT_EQ(c.status().code(), Code::kNotFound);

  auto d = Launch(Spec({"/bin/nope"}));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), "exec: \"/bin/nope\": stat /bin/nope: No such file or directory");

  auto e = Launch(Spec({"/marker"}));
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "exec: \"/marker\": permission denied");
}

TEST_F(ContainerLaunchTest, ExecFailureAfterStartIsReported) {
  std::string victim = rootfs_ + "/bin/victim";
  ASSERT_EQ(system(("cp /bin/busybox " + victim).c_str()), 0);
  auto c = Launch(Spec({"/bin/victim"}));
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(unlink(victim.c_str()), 0);
  Status st = (*c)->Start();
  EXPECT_EQ(st.message(), "exec /bin/victim: No such file or directory");
  EXPECT_EQ(st.code(), Code::kNotFound);
  int status = WaitStatus((*c)->pid());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 127);
}

// startContainer hooks run in the container (its root, after start, before
// the process): the hook's path and what it writes are the container's.
TEST_F(ContainerLaunchTest, StartContainerHooksRunInTheContainerBeforeTheProcess) {
  LaunchSpec ls = Spec({"sh", "-c", "cat /tmp/hook-state; echo; cat /tmp/hook-order; echo process"});
  ls.id = "hooked";
  ls.bundle = "/run/bundle-of-hooked";
  ls.spec.hooks = oci::Hooks{};
  ls.spec.hooks->start_container = {
      {"/bin/sh", {"sh", "-c", "cat > /tmp/hook-state; echo hook >> /tmp/hook-order"}, {}, 5}};
  RunResult r = Run(std::move(ls));
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("\"id\":\"hooked\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"status\":\"created\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"pid\":1,"), std::string::npos) << "the init's pid in its namespace: " << r.out;
  EXPECT_NE(r.out.find("\"bundle\":\"/run/bundle-of-hooked\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hook\nprocess\n"), std::string::npos) << r.out;
}

TEST_F(ContainerLaunchTest, FailingStartContainerHookFailsTheStart) {
  for (auto [hook, message] : {std::pair<oci::Hook, std::string>{{"/bin/false", {}, {}, {}}, "startContainer hook /bin/false failed"},
                               {{"/no/hook", {}, {}, {}}, "startContainer hook /no/hook: not found in the container"},
                               {{"/bin/sleep", {"sleep", "10"}, {}, 1}, "startContainer hook /bin/sleep timed out"}}) {
    LaunchSpec ls = Spec({"sh", "-c", "echo never"});
    ls.spec.hooks = oci::Hooks{};
    ls.spec.hooks->start_container = {hook};
    auto c = Launch(ls);
    ASSERT_TRUE(c.ok()) << c.status().message();
    Status st = (*c)->Start();
    EXPECT_EQ(st.message(), message);
    int status = WaitStatus((*c)->pid());
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  }
}

TEST_F(ContainerLaunchTest, DroppedBeforeStartNeverRuns) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  LaunchSpec ls = Spec({"sh", "-c", "echo ran"});
  ls.stdout_fd = p[1];
  auto c = Launch(ls);
  close(p[1]);
  ASSERT_TRUE(c.ok()) << c.status().message();
  pid_t pid = (*c)->pid();
  c.value().reset();
  int status = WaitStatus(pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_EQ(ReadAll(p[0]), "");
  close(p[0]);
}

TEST_F(ContainerLaunchTest, NoWaitForStartRunsImmediately) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  LaunchSpec ls = Spec({"echo", "now"});
  ls.wait_for_start = false;
  ls.stdout_fd = p[1];
  auto c = Launch(ls);
  close(p[1]);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(ReadAll(p[0]), "now\n");
  close(p[0]);
  EXPECT_EQ(WaitStatus((*c)->pid()), 0);
}

TEST_F(ContainerLaunchTest, NoPivotFallback) {
  LaunchSpec ls = Spec({"sh", "-c", "cat /marker; hostname; echo $$; test -e /work && echo host-visible; true"});
  ls.no_pivot = true;
  RunResult r = Run(ls);
  EXPECT_EQ(r.out, "rootfs-marker\ntestbox\n1\n");
  EXPECT_EQ(r.status, 0);
}

TEST_F(ContainerLaunchTest, PivotRootEinvalFallsBackToMove) {
  // pivot_root fails with EINVAL when the caller's root is not a mount point,
  // as for an agent whose root is the initramfs. Reproduce that in a helper
  // process chrooted into a plain directory (with /proc and /dev bound in,
  // in its own mount namespace), and launch from there.
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  pid_t helper = fork();
  ASSERT_GE(helper, 0);
  if (helper == 0) {
    auto die = [&](const std::string& what) {
      std::string msg = "helper: " + what + ": " + strerror(errno) + "\n";
      (void)!write(out[1], msg.data(), msg.size());
      _exit(1);
    };
    if (unshare(CLONE_NEWNS) != 0) die("unshare");
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die("rprivate");
    for (const char* d : {"/proc", "/dev"}) {
      std::string target = base_ + d;
      mkdir(target.c_str(), 0755);
      if (mount(d, target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) die(std::string("bind ") + d);
    }
    if (chroot(base_.c_str()) != 0 || chdir("/") != 0) die("chroot");
    LaunchSpec ls = Spec({"sh", "-c", "cat /marker; echo $$; hostname"});
    ls.rootfs = "/rootfs";
    ls.spec.root.path = "/rootfs";
    ls.stdout_fd = out[1];
    ls.stderr_fd = out[1];
    auto c = Launch(ls);
    if (!c.ok()) {
      std::string msg = "launch: " + c.status().message() + "\n";
      (void)!write(out[1], msg.data(), msg.size());
      _exit(1);
    }
    if (!(*c)->Start().ok()) _exit(2);
    _exit(WaitStatus((*c)->pid()) == 0 ? 0 : 3);
  }
  close(out[1]);
  std::string text = ReadAll(out[0]);
  close(out[0]);
  EXPECT_EQ(WaitStatus(helper), 0) << text;
  EXPECT_EQ(text, "rootfs-marker\n1\ntestbox\n");
  rmdir((base_ + "/proc").c_str());
  rmdir((base_ + "/dev").c_str());
}

TEST_F(ContainerLaunchTest, TerminalBecomesControllingTty) {
  // Launch allocates the pty itself (in the container's devpts) and hands the master over.
  LaunchSpec ls = Spec({"sh", "-c", "test -t 0 && echo tty; stty size; tty; ps -o pid,tty | tail -1 | tr -s ' '"});
  ls.spec.process->terminal = true;
  ls.spec.process->console_size = oci::ConsoleSize{30, 100};
  auto c = Launch(ls);
  ASSERT_TRUE(c.ok()) << c.status().message();
  int master = (*c)->TakeConsole();
  ASSERT_GE(master, 0);
  ASSERT_TRUE((*c)->Start().ok());
  std::string text;
  char buf[512];
  ssize_t n;
  while ((n = read(master, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));  // EIO at hangup
  close(master);
  EXPECT_EQ(WaitStatus((*c)->pid()), 0);
  EXPECT_EQ(text.substr(0, 25), "tty\r\n30 100\r\n/dev/pts/0\r\n") << text;
}

TEST_F(ContainerLaunchTest, RootfsAttributes) {
  LaunchSpec ls = Spec({"sh", "-c",
                        "touch /x 2>/dev/null && echo root-rw || echo root-ro;"
                        "cat /secret; echo \"[$(ls /secretdir)]\";"
                        "touch /rodir/y 2>/dev/null && echo rodir-rw || echo rodir-ro;"
                        "touch /tmp/ok && echo tmp-rw;"
                        "ulimit -n; ulimit -Hn; umask; id -G; grep NoNewPrivs /proc/self/status;"
                        "cat /proc/self/oom_score_adj; cat /proc/sys/net/ipv4/ip_forward;"
                        "ls /proc/self/fd | tr '\\n' ' '"});
  ls.spec.root.readonly = true;
  ls.spec.linux_config->masked_paths = {"/secret", "/secretdir", "/does/not/exist"};
  ls.spec.linux_config->readonly_paths = {"/rodir", "/nope"};
  ls.spec.linux_config->namespaces.push_back({"network", ""});
  ls.spec.linux_config->sysctl = {{"net.ipv4.ip_forward", "1"}};
  ls.spec.process->rlimits = {{"RLIMIT_NOFILE", 512, 256}};
  ls.spec.process->user.umask = 027;
  ls.spec.process->user.additional_gids = {10, 20};
  ls.spec.process->no_new_privileges = true;
  ls.spec.process->oom_score_adj = 500;
  // A stray fd of the caller must not reach the container.
  int stray = open("/dev/null", O_RDONLY);
  ASSERT_EQ(dup2(stray, 57), 57);
  RunResult r = Run(ls);
  close(57);
  close(stray);
  EXPECT_EQ(r.out,
            "root-ro\n[]\nrodir-ro\ntmp-rw\n256\n512\n0027\n0 10 20\nNoNewPrivs:\t1\n500\n1\n0 1 2 3 ");
  EXPECT_EQ(access((rootfs_ + "/x").c_str(), F_OK), -1);
}

TEST_F(ContainerLaunchTest, ExecInContainerSharesNamespaces) {
  LaunchSpec ls = Spec({"sleep", "1000"});
  auto c = Launch(ls);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE((*c)->Start().ok());
  pid_t init = (*c)->pid();

  oci::Process p;
  p.args = {"sh", "-c", "hostname; echo $$; cat /proc/1/comm; echo $FOO; id -u; pwd; cat /marker"};
  p.env = {"PATH=/bin", "FOO=exec"};
  p.cwd = "/tmp";
  p.user.uid = 1000;
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  auto pid = ExecInContainer(init, p, -1, out[1], out[1]);
  close(out[1]);
  ASSERT_TRUE(pid.ok()) << pid.status().message();
  std::string text = ReadAll(out[0]);
  close(out[0]);
  EXPECT_EQ(WaitStatus(*pid), 0);
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 7u) << text;
  EXPECT_EQ(lines[0], "testbox");
  EXPECT_NE(lines[1], "1");
  EXPECT_LT(std::stoi(lines[1]), 100);  // a pid of the container's namespace
  EXPECT_EQ(lines[2], "sleep");
  EXPECT_EQ(lines[3], "exec");
  EXPECT_EQ(lines[4], "1000");
  EXPECT_EQ(lines[5], "/tmp");
  EXPECT_EQ(lines[6], "rootfs-marker");

  oci::Process bad = p;
  bad.args = {"nosuch"};
  auto err = ExecInContainer(init, bad, -1, -1, -1);
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.status().message(), "exec: \"nosuch\": executable file not found in $PATH");

  kill(init, SIGKILL);
  int status = ReapUntil(init);
  EXPECT_TRUE(WIFSIGNALED(status));
  auto gone = ExecInContainer(init, p, -1, -1, -1);
  EXPECT_FALSE(gone.ok());
}

// As runc: no "pid" (or "uts") entry means the caller's namespace; a
// hostname without a private UTS namespace is refused.
TEST_F(ContainerLaunchTest, UnlistedNamespacesAreShared) {
  LaunchSpec ls = Spec({"sh", "-c", "test $$ != 1 && echo shared-pid-ns"});
  ls.spec.hostname.clear();
  ls.spec.linux_config->namespaces = {{"mount", ""}};
  RunResult r = Run(ls);
  EXPECT_EQ(r.out, "shared-pid-ns\n");
  LaunchSpec bad = Spec({"true"});
  bad.spec.linux_config->namespaces = {{"mount", ""}, {"pid", ""}};
  auto c = Launch(bad);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("UTS namespace"), std::string::npos) << c.status().message();
}

TEST_F(ContainerLaunchTest, JoinsNamespacesByPath) {
  LaunchSpec a = Spec({"sleep", "1000"});
  a.spec.hostname = "alpha";
  auto ca = Launch(a);
  ASSERT_TRUE(ca.ok()) << ca.status().message();
  ASSERT_TRUE((*ca)->Start().ok());
  std::string ns = "/proc/" + std::to_string((*ca)->pid()) + "/ns/";

  LaunchSpec b = Spec({"sh", "-c", "hostname; echo $$; cat /proc/1/comm"});
  b.spec.hostname.clear();
  b.spec.linux_config->namespaces = {{"pid", ns + "pid"}, {"uts", ns + "uts"}, {"mount", ""}, {"ipc", ""}};
  RunResult r = Run(b);
  EXPECT_EQ(r.out.substr(0, 6), "alpha\n");
  EXPECT_NE(r.out.find("\nsleep\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\n1\n"), std::string::npos) << r.out;

  LaunchSpec m = Spec({"true"});
  m.spec.linux_config->namespaces = {{"mount", ns + "mnt"}, {"uts", ""}};
  auto cm = Launch(m);
  ASSERT_FALSE(cm.ok());
  EXPECT_EQ(cm.status().code(), Code::kUnimplemented);

  kill((*ca)->pid(), SIGKILL);
  ReapUntil((*ca)->pid());
}

TEST_F(ContainerLaunchTest, UserNamespace) {
  LaunchSpec ls = Spec({"sh", "-c", "id -u; cat /proc/self/uid_map | tr -s ' '; test -c /dev/null && echo dev"});
  // sysfs needs a network namespace owned by the user namespace: leave it out.
  std::vector<oci::Mount> mounts;
  for (const auto& m : ls.spec.mounts) {
    if (m.destination != "/sys" && m.destination != "/sys/fs/cgroup") mounts.push_back(m);
  }
  ls.spec.mounts = mounts;
  ls.spec.linux_config->namespaces.push_back({"user", ""});
  ls.spec.linux_config->uid_mappings = {{0, 100000, 65536}};
  ls.spec.linux_config->gid_mappings = {{0, 100000, 65536}};
  RunResult r = Run(ls);
  EXPECT_EQ(r.out, "0\n 0 100000 65536\ndev\n");
}

// The user namespace's root (host uid 100000) cannot reach a rootfs or a
// bind source below 0700 directories of root's, nor mount sysfs for a
// network namespace it does not own: the rootfs and the sources are opened
// before the id maps, sysfs is the caller's bound (as runc does).
TEST_F(ContainerLaunchTest, UserNamespaceReachesWhatItsRootCannot) {
  std::string closed = base_ + "/closed";
  ASSERT_EQ(mkdir(closed.c_str(), 0700), 0);
  ASSERT_EQ(mkdir((closed + "/data").c_str(), 0755), 0);
  WriteFile(closed + "/data/note", "behind a closed door\n");
  std::string rootfs_link = closed + "/rootfs";
  ASSERT_EQ(system(("mkdir -p " + rootfs_link + " && mount --bind " + rootfs_ + " " + rootfs_link).c_str()), 0);
  LaunchSpec ls = Spec({"sh", "-c", "id -u; cat /secretdir/note; test -d /sys/kernel && echo sys"});
  ls.rootfs = rootfs_link;
  ls.spec.root.path = rootfs_link;
  ls.spec.mounts.erase(std::remove_if(ls.spec.mounts.begin(), ls.spec.mounts.end(),
                                      [](const oci::Mount& m) { return m.destination == "/sys/fs/cgroup"; }),
                       ls.spec.mounts.end());
  // Onto a directory the image has (its root, unmapped here, owns the rootfs).
  ls.spec.mounts.push_back(M("/secretdir", "bind", closed + "/data", {"rbind", "ro"}));
  ls.spec.linux_config->namespaces.push_back({"user", ""});
  ls.spec.linux_config->uid_mappings = {{0, 100000, 65536}};
  ls.spec.linux_config->gid_mappings = {{0, 100000, 65536}};
  RunResult r = Run(ls);
  EXPECT_EQ(r.out, "0\nbehind a closed door\nsys\n");
  EXPECT_EQ(umount2(rootfs_link.c_str(), MNT_DETACH), 0);
  EXPECT_EQ(system(("rm -rf " + closed).c_str()), 0);
}

TEST_F(ContainerLaunchTest, LaunchWhileOtherThreadsAllocate) {
  // The child must not touch malloc or other locks: with threads hammering
  // the allocator, a child that did would deadlock now and then.
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      while (!stop) {
        std::vector<std::string> v;
        for (int k = 0; k < 64; ++k) v.emplace_back(1000 + k, 'x');
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    RunResult r = Run(Spec({"echo", std::to_string(i)}));
    EXPECT_EQ(r.out, std::to_string(i) + "\n");
  }
  stop = true;
  for (auto& t : threads) t.join();
}

}  // namespace
}  // namespace kata::agent
