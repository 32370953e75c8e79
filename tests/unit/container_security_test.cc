// Process security of the launcher on this host (root required): the five
// capability sets, seccomp (actions, operators, early and late loading),
// rlimits, and terminals for the init and for exec'd processes, all observed
// from inside the container.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "agent/container/launch.h"
#include "agent/container/seccomp_compile.h"
#include "agent/container/security.h"
#include "busybox_rootfs.h"
#include "wait_until.h"

namespace kata::agent {
namespace {

using test_util::ReadAll;

int WaitStatus(pid_t pid) { return test_util::WaitStatus(pid, __WALL); }

class ContainerSecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    base_ = test_util::MakeBusyboxRootfs("kata-security-test");
    rootfs_ = base_ + "/rootfs";
  }
  static void TearDownTestSuite() {
    if (!base_.empty()) {
      EXPECT_EQ(system(("rm -rf " + base_).c_str()), 0);
    }
  }
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
  }

  static LaunchSpec Spec(std::vector<std::string> args) {
    LaunchSpec ls;
    oci::Spec& s = ls.spec;
    s.oci_version = "1.0.2";
    s.root.path = rootfs_;
    oci::Process p;
    p.args = std::move(args);
    p.env = {"PATH=/bin"};
    p.cwd = "/";
    s.process = p;
    s.mounts = {
        {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}},
        {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}},
        {"/dev/pts", "devpts", "devpts", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
        {"/tmp", "tmpfs", "tmpfs", {"nosuid", "nodev", "mode=1777"}},
    };
    s.linux_config = oci::Linux{};
    s.linux_config->namespaces = {{"pid", ""}, {"mount", ""}, {"ipc", ""}, {"uts", ""}};
    ls.rootfs = rootfs_;
    ls.reap_on_failure = true;
    return ls;
  }

  struct RunResult {
    std::string out;
    int status = -1;
  };
  static RunResult Run(LaunchSpec ls) {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    ls.stdout_fd = p[1];
    ls.stderr_fd = p[1];
    ls.wait_for_start = false;
    auto c = Launch(ls);
    close(p[1]);
    RunResult r;
    if (!c.ok()) {
      ADD_FAILURE() << "Launch: " << c.status().message();
      close(p[0]);
      return r;
    }
    r.out = ReadAll(p[0]);
    close(p[0]);
    r.status = WaitStatus((*c)->pid());
    return r;
  }

  static nlohmann::json DenyMkdir(bool errno_eperm = true) {
    return nlohmann::json::parse(R"({
      "defaultAction": "SCMP_ACT_ALLOW",
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": )" +
                                 std::string(errno_eperm ? "1" : "28") + R"(},
        {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 1, "value": 511, "op": "SCMP_CMP_EQ"}]},
        {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 2, "value": 511, "op": "SCMP_CMP_EQ"}]},
        {"names": ["sync"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["no_such_syscall_name"], "action": "SCMP_ACT_ERRNO"}
      ]})");
  }

  static inline std::string base_;
  static inline std::string rootfs_;
};

TEST_F(ContainerSecurityTest, FiveCapabilitySetsAsNonRoot) {
  LaunchSpec ls = Spec({"sh", "-c", "grep ^Cap /proc/self/status"});
  ls.spec.process->user.uid = 1000;
  ls.spec.process->user.gid = 1000;
  oci::Capabilities caps;
  caps.bounding = {"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  caps.permitted = {"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  caps.effective = {"CAP_CHOWN", "CAP_KILL"};
  caps.inheritable = {"CAP_KILL"};
  caps.ambient = {"CAP_KILL"};
  ls.spec.process->capabilities = caps;
  RunResult r = Run(ls);
  EXPECT_EQ(r.status, 0);
  // Through execve as uid 1000 only the ambient set survives into permitted/effective.
  EXPECT_NE(r.out.find("CapInh:\t0000000000000020"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CapPrm:\t0000000000000020"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CapEff:\t0000000000000020"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CapBnd:\t0000000000000421"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CapAmb:\t0000000000000020"), std::string::npos) << r.out;
}

TEST_F(ContainerSecurityTest, RootKeepsOnlyItsBoundingSet) {
  LaunchSpec ls = Spec({"sh", "-c", "grep -E '^Cap(Eff|Bnd)' /proc/self/status; chown 5 /tmp 2>&1; echo rc=$?"});
  oci::Capabilities caps;
  caps.bounding = caps.permitted = caps.effective = {"CAP_KILL", "CAP_SYS_ADMIN", "CAP_NOT_A_REAL_ONE"};
  ls.spec.process->capabilities = caps;
  RunResult r = Run(ls);
  EXPECT_NE(r.out.find("CapEff:\t0000000000200020"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CapBnd:\t0000000000200020"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Operation not permitted"), std::string::npos) << r.out;  // no CAP_CHOWN
}

TEST_F(ContainerSecurityTest, SeccompErrnoOperatorsAndKill) {
  LaunchSpec ls = Spec({"sh", "-c",
                        "mkdir /tmp/d 2>&1; touch /tmp/f; chmod 777 /tmp/f 2>&1; chmod 755 /tmp/f && echo chmod-755-ok;"
                        "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; sync; echo sync=$?"});
  ls.spec.process->no_new_privileges = true;
  ls.spec.linux_config->seccomp = DenyMkdir();
  RunResult r = Run(ls);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("mkdir: can't create directory '/tmp/d': Operation not permitted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Permission denied"), std::string::npos) << r.out;  // chmod 777 (SCMP_CMP_EQ on mode)
  EXPECT_NE(r.out.find("chmod-755-ok"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("NoNewPrivs:\t1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Seccomp:\t2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sync=159"), std::string::npos) << r.out;  // SIGSYS
}

TEST_F(ContainerSecurityTest, SeccompWithoutNoNewPrivsForUnprivilegedUser) {
  // No no_new_privs and no CAP_SYS_ADMIN at the end: loaded before the uid switch.
  LaunchSpec ls = Spec({"sh", "-c", "id -u; mkdir /tmp/d 2>&1; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"});
  ls.spec.process->user.uid = 1000;
  ls.spec.process->user.gid = 1000;
  ls.spec.process->no_new_privileges = false;
  ls.spec.linux_config->seccomp = DenyMkdir(false);
  RunResult r = Run(ls);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("1000\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;  // errnoRet 28
  EXPECT_NE(r.out.find("NoNewPrivs:\t0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Seccomp:\t2"), std::string::npos) << r.out;
}

TEST_F(ContainerSecurityTest, SeccompCompileErrorsAndDefaults) {
  auto bad = CompileSeccomp(nlohmann::json::parse(R"({"defaultAction": "SCMP_ACT_WHATEVER"})"));
  EXPECT_FALSE(bad.ok());
  auto notify = CompileSeccomp(nlohmann::json::parse(
      R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]})"));
  EXPECT_FALSE(notify.ok());
  auto op = CompileSeccomp(nlohmann::json::parse(
      R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETHING"}]}]})"));
  EXPECT_FALSE(op.ok());
  // Every operator, repeated argument indexes, every flag, defaultErrnoRet.
  auto all = CompileSeccomp(nlohmann::json::parse(R"({
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
    "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
    "syscalls": [
      {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
        {"index": 0, "value": 0, "op": "SCMP_CMP_NE"}, {"index": 0, "value": 8, "op": "SCMP_CMP_LT"}]},
      {"names": ["ioctl"], "action": "SCMP_ACT_LOG", "args": [{"index": 1, "value": 255, "valueTwo": 84, "op": "SCMP_CMP_MASKED_EQ"}]},
      {"names": ["kill"], "action": "SCMP_ACT_TRAP", "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_GE"}]},
      {"names": ["tkill"], "action": "SCMP_ACT_TRACE", "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_GT"}]},
      {"names": ["tgkill"], "action": "SCMP_ACT_KILL", "args": [{"index": 2, "value": 9, "op": "SCMP_CMP_LE"}]},
      {"names": ["getpid"], "action": "SCMP_ACT_KILL_THREAD"}
    ]})"));
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_GT(all->filter.size(), 10u);
  EXPECT_NE(all->flags, 0u);
  EXPECT_EQ(CapabilityNumber("CAP_SYS_ADMIN"), 21);
  EXPECT_EQ(CapabilityNumber("net_raw"), 13);
  EXPECT_EQ(CapabilityNumber("CAP_NOPE"), -1);
}

TEST_F(ContainerSecurityTest, RlimitsUlimit) {
  LaunchSpec ls = Spec({"sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u"});
  ls.spec.process->rlimits = {{"RLIMIT_NOFILE", 1000, 700}, {"RLIMIT_NPROC", 300, 200}};
  RunResult r = Run(ls);
  EXPECT_EQ(r.out, "700\n1000\n200\n");
}

TEST_F(ContainerSecurityTest, ExecGetsTerminalSeccompAndResize) {
  LaunchSpec ls = Spec({"sleep", "100"});
  ls.wait_for_start = false;
  auto c = Launch(ls);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ExecSpec es;
  es.init_pid = (*c)->pid();
  es.process = *ls.spec.process;
  es.process.args = {"sh", "-c", "tty; stty size; mkdir /tmp/z 2>&1; read line; echo got=$line; stty size"};
  es.process.terminal = true;
  es.process.console_size = oci::ConsoleSize{40, 120};
  es.seccomp = DenyMkdir();
  es.process.no_new_privileges = true;
  auto r = Exec(es);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_GE(r->console_fd, 0);
  // Once the first `stty size` has answered, resize and answer `read` from
  // the master, as TtyWinResize/WriteStdin do.
  std::string out;
  char buf[512];
  ssize_t n;
  ::kata::test_util::WaitUntil(
      [&] {
        pollfd p{r->console_fd, POLLIN, 0};
        while (poll(&p, 1, 0) == 1 && (p.revents & POLLIN) && (n = read(r->console_fd, buf, sizeof buf)) > 0) {
          out.append(buf, static_cast<size_t>(n));
        }
        return out.find("40 120\r\n") != std::string::npos;
      },
      std::chrono::seconds(5));
  struct winsize ws = {};
  ws.ws_row = 50;
  ws.ws_col = 132;
  ASSERT_EQ(ioctl(r->console_fd, TIOCSWINSZ, &ws), 0);
  ASSERT_EQ(write(r->console_fd, "hello\n", 6), 6);
  while ((n = read(r->console_fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(r->console_fd);
  EXPECT_EQ(WaitStatus(r->pid), 0);
  EXPECT_EQ(out.rfind("/dev/pts/0\r\n40 120\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Operation not permitted"), std::string::npos) << out;
  EXPECT_NE(out.find("got=hello\r\n50 132\r\n"), std::string::npos) << out;
  kill((*c)->pid(), SIGKILL);
  WaitStatus((*c)->pid());
}

TEST_F(ContainerSecurityTest, TerminalWithoutContainerDevptsUsesAgentPty) {
  LaunchSpec ls = Spec({"sh", "-c", "test -t 0 && echo is-tty; stty size"});
  ls.spec.mounts.erase(ls.spec.mounts.begin() + 2);  // no devpts
  ls.spec.process->terminal = true;
  ls.spec.process->console_size = oci::ConsoleSize{24, 80};
  ls.wait_for_start = true;
  auto c = Launch(ls);
  ASSERT_TRUE(c.ok()) << c.status().message();
  int master = (*c)->TakeConsole();
  ASSERT_GE(master, 0);
  ASSERT_TRUE((*c)->Start().ok());
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(master, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(master);
  EXPECT_EQ(WaitStatus((*c)->pid()), 0);
  EXPECT_EQ(out, "is-tty\r\n24 80\r\n");
}

}  // namespace
}  // namespace kata::agent
