// cgroup v2 code of the agent on this host (root required). The host may have
// a v1+v2 hybrid layout: the tests use the cgroup2 mount they find
// (/sys/fs/cgroup or /sys/fs/cgroup/unified) and skip, saying why, when there
// is none. Controllers bound to v1 (memory, pids, cpu) are then missing, so
// the limit checks run only when the controller is there; the VM test
// (tests/integration/agent_features_test.cc) covers them for real.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/container/cgroup.h"
#include "agent/container/device_filter.h"
#include "agent/container/launch.h"
#include "wait_until.h"

namespace kata::agent {
namespace {

using ::kata::test_util::WaitUntil;

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class ContainerCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    for (const char* r : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
      if (Cgroup2Available(r)) {
        root_ = r;
        break;
      }
    }
    if (root_.empty()) GTEST_SKIP() << "no cgroup2 mount on this host";
    parent_ = "kata-unit-" + std::to_string(getpid());
    auto dir = CreateCgroup(root_, parent_, "c1");
    ASSERT_TRUE(dir.ok()) << dir.status().message();
    dir_ = *dir;
  }
  void TearDown() override {
    if (dir_.empty()) return;
    (void)FreezeCgroup(dir_, false, std::chrono::seconds(1));
    (void)SignalCgroup(dir_, SIGKILL);
    EXPECT_TRUE(RemoveCgroup(dir_, std::chrono::seconds(5)).ok());
    EXPECT_EQ(rmdir((root_ + "/" + parent_).c_str()), 0);
  }
  bool Has(const std::string& controller) {
    auto c = CgroupControllers(root_);
    return std::find(c.begin(), c.end(), controller) != c.end();
  }
  std::string root_, parent_, dir_;
};

TEST_F(ContainerCgroupTest, ContainerRunsInItsCgroupAndFreezes) {
  char tmpl[] = "/tmp/kata-cgroup-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string rootfs = std::string(tmpl) + "/rootfs";
  ASSERT_EQ(system(("mkdir -p " + rootfs + "/bin " + rootfs + "/proc " + rootfs + "/tmp " + rootfs + "/sys/fs/cgroup" +
                    " && cp /bin/busybox " + rootfs + "/bin/ && for a in sh cat sleep; do ln -s busybox " + rootfs +
                    "/bin/$a; done").c_str()),
            0);
  LaunchSpec ls;
  oci::Process p;
  p.args = {"sh", "-c", "cat /proc/self/cgroup > /tmp/cg; ls /sys/fs/cgroup > /tmp/files; i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.02; done"};
  p.env = {"PATH=/bin"};
  p.cwd = "/";
  ls.spec.process = p;
  ls.spec.mounts = {{"/proc", "proc", "proc", {}}, {"/tmp", "tmpfs", "tmpfs", {}},
                    {"/sys/fs/cgroup", "cgroup", "cgroup", {"ro", "nosuid"}}};
  ls.spec.linux_config = oci::Linux{};
  ls.spec.linux_config->namespaces = {{"pid", ""}, {"mount", ""}, {"cgroup", ""}};
  ls.rootfs = rootfs;
  ls.cgroup_dir = dir_;
  ls.wait_for_start = false;
  ls.reap_on_failure = true;
  auto c = Launch(ls);
  ASSERT_TRUE(c.ok()) << c.status().message();
  pid_t pid = (*c)->pid();
  std::string tmp = "/proc/" + std::to_string(pid) + "/root/tmp/";
  WaitUntil([&] { return !Slurp(tmp + "count").empty(); }, std::chrono::seconds(2));  // it has run its first lines

  auto procs = CgroupProcs(dir_);
  EXPECT_NE(std::find(procs.begin(), procs.end(), pid), procs.end());
  // The cgroup namespace is rooted at the container's cgroup: its v2 line is "0::/"
  // (a hybrid host lists its v1 hierarchies before it).
  std::string cg = Slurp(tmp + "cg");
  EXPECT_TRUE(cg.size() >= 5 && cg.compare(cg.size() - 5, 5, "0::/\n") == 0) << cg;
  EXPECT_NE(Slurp(tmp + "files").find("cgroup.procs"), std::string::npos);  // its own cgroup, bind-mounted

  ASSERT_TRUE(FreezeCgroup(dir_, true, std::chrono::seconds(5)).ok());
  EXPECT_TRUE(CgroupFrozen(dir_));
  std::string frozen_at = Slurp(tmp + "count");
  usleep(300 * 1000);  // a sleep on purpose: nothing must happen in it
  EXPECT_EQ(Slurp(tmp + "count"), frozen_at) << "a frozen container made progress";
  ASSERT_TRUE(FreezeCgroup(dir_, false, std::chrono::seconds(5)).ok());
  // Thawed: it counts on (waited for, up to 5 s, not assumed after a sleep).
  WaitUntil([&] { return Slurp(tmp + "count") != frozen_at; }, std::chrono::seconds(5), std::chrono::milliseconds(50));
  EXPECT_NE(Slurp(tmp + "count"), frozen_at) << "no progress after thaw";

  auto st = ReadCgroupStats(dir_);
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_GT(st->cpu_usage_usec, 0u);
  EXPECT_TRUE(st->raw.count("cpu.stat"));

  // Exec'd processes join the cgroup too.
  ExecSpec es;
  es.init_pid = pid;
  es.process = p;
  es.process.args = {"sleep", "30"};
  es.cgroup_dir = dir_;
  auto e = Exec(es);
  ASSERT_TRUE(e.ok()) << e.status().message();
  procs = CgroupProcs(dir_);
  EXPECT_NE(std::find(procs.begin(), procs.end(), e->pid), procs.end());

  ASSERT_TRUE(SignalCgroup(dir_, SIGKILL).ok());
  int status = 0;
  waitpid(e->pid, &status, 0);
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_EQ(system((std::string("rm -rf ") + tmpl).c_str()), 0);
}

TEST_F(ContainerCgroupTest, ResourcesBecomeCgroupFiles) {
  auto r = nlohmann::json::parse(R"({"unified": {"cgroup.max.descendants": "7"}})");
  ASSERT_TRUE(ApplyResources(dir_, r).ok());
  EXPECT_EQ(Slurp(dir_ + "/cgroup.max.descendants"), "7\n");
  EXPECT_FALSE(ApplyResources(dir_, nlohmann::json::parse(R"({"unified": {"../escape": "1"}})")).ok());
  if (Has("pids")) {
    ASSERT_TRUE(ApplyResources(dir_, nlohmann::json::parse(R"({"pids": {"limit": 42}})")).ok());
    EXPECT_EQ(Slurp(dir_ + "/pids.max"), "42\n");
  }
  if (Has("memory")) {
    ASSERT_TRUE(ApplyResources(dir_, nlohmann::json::parse(
                                         R"({"memory": {"limit": 67108864, "reservation": 33554432, "swap": 100663296}})"))
                    .ok());
    EXPECT_EQ(Slurp(dir_ + "/memory.max"), "67108864\n");
    EXPECT_EQ(Slurp(dir_ + "/memory.low"), "33554432\n");
  }
  if (Has("cpu")) {
    ASSERT_TRUE(ApplyResources(dir_, nlohmann::json::parse(R"({"cpu": {"shares": 1024, "quota": 50000, "period": 100000}})")).ok());
    EXPECT_EQ(Slurp(dir_ + "/cpu.weight"), "39\n");
    EXPECT_EQ(Slurp(dir_ + "/cpu.max"), "50000 100000\n");
  }
  if (!Has("pids") || !Has("memory") || !Has("cpu")) {
    std::printf("note: cgroup2 at %s lacks some of cpu/memory/pids (hybrid host); those checks ran only in part\n",
                root_.c_str());
  }
}

// Opens `path` from a child moved into `dir`: 0, or the errno.
int OpenErrnoIn(const std::string& dir, const char* path, int flags) {
  pid_t pid = fork();
  if (pid == 0) {
    if (!AddToCgroup(dir, getpid()).ok()) _exit(100);
    int fd = open(path, flags | O_CLOEXEC);
    _exit(fd >= 0 ? 0 : errno);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

// The kernel runs the compiled program: docker's shape of rules (deny all,
// then exceptions) plus the defaults every container gets.
TEST_F(ContainerCgroupTest, DeviceRulesAreEnforcedByTheKernel) {
  auto devices = nlohmann::json::parse(R"({"devices": [
      {"allow": false, "access": "rwm"},
      {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}]})");
  Status st = ApplyResources(dir_, devices);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(OpenErrnoIn(dir_, "/dev/null", O_RDWR), 0) << "a default device";
  EXPECT_EQ(OpenErrnoIn(dir_, "/dev/kmsg", O_RDONLY), 0) << "allowed for reading";
  EXPECT_EQ(OpenErrnoIn(dir_, "/dev/kmsg", O_WRONLY), EPERM) << "the rule grants r only";
  EXPECT_EQ(OpenErrnoIn(dir_, "/dev/kmsg", O_RDWR), EPERM) << "rw needs both";

  // An update replaces the filter (runc's "a *:* rwm" allow-all).
  st = ApplyResources(dir_, nlohmann::json::parse(R"({"devices": [{"allow": true, "access": "rwm"}]})"));
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(OpenErrnoIn(dir_, "/dev/kmsg", O_WRONLY), 0);

  // The last matching rule wins; linux.devices entries are allowed.
  st = ApplyResources(dir_, nlohmann::json::parse(R"({"devices": [
      {"allow": false, "access": "rwm"},
      {"allow": true, "type": "c", "major": 1, "access": "rw"},
      {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "w"}]})"));
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(OpenErrnoIn(dir_, "/dev/kmsg", O_RDONLY), 0);
  EXPECT_EQ(OpenErrnoIn(dir_, "/dev/kmsg", O_WRONLY), EPERM);
  oci::Device kmsg;
  kmsg.type = "c";
  kmsg.path = "/dev/kmsg";
  kmsg.major = 1;
  kmsg.minor = 11;
  st = ApplyResources(dir_, nlohmann::json::parse(R"({"devices": [{"allow": false, "access": "rwm"}]})"), {kmsg});
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(OpenErrnoIn(dir_, "/dev/kmsg", O_RDWR), 0);
}

TEST(DeviceRulesTest, BadRulesAreNamed) {
  auto bad = [](const char* rules) {
    auto r = ParseDeviceRules(nlohmann::json::parse(rules));
    return r.ok() ? std::string("ok") : r.status().message();
  };
  EXPECT_EQ(bad(R"([{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}])"), "ok");
  EXPECT_NE(bad(R"([{"type": "c"}])").find("devices[0].allow"), std::string::npos);
  EXPECT_NE(bad(R"([{"allow": true}, {"allow": true, "type": "x"}])").find("devices[1].type"), std::string::npos);
  EXPECT_NE(bad(R"([{"allow": true, "access": "rwx"}])").find("letters r, w and m"), std::string::npos);
  EXPECT_NE(bad(R"([{"allow": true, "major": "1"}])").find("devices[0].major"), std::string::npos);
  auto rules = ParseDeviceRules(nlohmann::json::parse(R"([{"allow": false}])"));
  ASSERT_TRUE(rules.ok());
  EXPECT_EQ((*rules)[0], (DeviceRule{false, 'a', -1, -1, kDevAccessAll}));
}

TEST_F(ContainerCgroupTest, CreateRefusesBadNamesAndDuplicates) {
  EXPECT_FALSE(CreateCgroup(root_, parent_, "../x").ok());
  auto dup = CreateCgroup(root_, parent_, "c1");
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
}

}  // namespace
}  // namespace kata::agent
