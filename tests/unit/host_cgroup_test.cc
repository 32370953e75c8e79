// The sandbox's host cgroup (sandbox/host_cgroup.h): how the pod's limits
// add up, how cgroupsPath is read, and, as root on this host's real cgroup
// hierarchies (v1, v2 or hybrid), that the directories, limits, membership
// and removal are what runc would leave.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/fs.h"
#include "common/strings.h"
#include "oci/spec_json.h"
#include "sandbox/host_cgroup.h"

namespace kata::sandbox {
namespace {

oci::Resources Res(const std::string& json) {
  auto r = oci::ParseResourcesJson(json);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : oci::Resources{};
}

TEST(SandboxLimits, NoLimitsMeansUnlimited) {
  HostLimits l = SandboxLimits({{"pause", {}}, {"app", Res(R"({"cpu":{"shares":2}})")}});
  EXPECT_FALSE(l.cpu_quota);
  EXPECT_FALSE(l.memory_bytes);
  EXPECT_FALSE(l.pids);
  EXPECT_EQ(l.cpu_shares, 2u);
}

TEST(SandboxLimits, QuotasAddUpAsCpusAndMemoryGetsTheVmOverhead) {
  HostLimits l = SandboxLimits({{"pause", {}},
                                {"a", Res(R"({"cpu":{"quota":50000,"period":100000},"memory":{"limit":268435456}})")},
                                {"b", Res(R"({"cpu":{"quota":15000,"period":10000},"pids":{"limit":100}})")}});
  EXPECT_EQ(l.cpu_period, 100000u);
  EXPECT_EQ(l.cpu_quota, 200000);  // 0.5 + 1.5 CPUs
  EXPECT_EQ(l.memory_bytes, 268435456 + kVmMemoryOverheadBytes);
  EXPECT_EQ(l.pids, 100 + kVmPidsOverhead);
}

TEST(SandboxLimits, CpusetsUniteAndTheLargestBlkioWeightWins) {
  HostLimits l = SandboxLimits({{"a", Res(R"({"cpu":{"cpus":"0"},"blockIO":{"weight":300}})")},
                                {"b", Res(R"({"cpu":{"cpus":"1"},"blockIO":{"weight":700}})")}});
  EXPECT_EQ(l.cpuset_cpus, "0,1");
  EXPECT_EQ(l.blkio_weight, 700);
}

TEST(SandboxLimits, ThrottlesAddUpPerDevice) {
  HostLimits l = SandboxLimits(
      {{"a", Res(R"({"blockIO":{"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1000}],"throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":5}]}})")},
       {"b", Res(R"({"blockIO":{"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":500}]}})")}});
  ASSERT_EQ(l.throttles.size(), 2u);
  EXPECT_EQ(l.throttles["8:0"][0], 1500u);
  EXPECT_EQ(l.throttles["8:16"][3], 5u);
  EXPECT_EQ(l.throttles["8:16"][0], 0u);
}

TEST(VcpusFor, QuotasRoundUpWithinBootAndMax) {
  EXPECT_EQ(VcpusFor({{"pause", {}}}, 1, 4), 1);
  EXPECT_EQ(VcpusFor({{"a", Res(R"({"cpu":{"quota":50000,"period":100000}})")}}, 1, 4), 1);
  EXPECT_EQ(VcpusFor({{"a", Res(R"({"cpu":{"quota":200000,"period":100000}})")}}, 1, 4), 2);
  EXPECT_EQ(VcpusFor({{"a", Res(R"({"cpu":{"quota":150000,"period":100000}})")},
                      {"b", Res(R"({"cpu":{"quota":100000,"period":100000}})")}}, 1, 4), 3);
  EXPECT_EQ(VcpusFor({{"a", Res(R"({"cpu":{"quota":800000,"period":100000}})")}}, 1, 2), 2) << "capped at the maximum";
  EXPECT_EQ(VcpusFor({{"a", Res(R"({"cpu":{"quota":800000,"period":100000}})")}}, 2, 0), 2) << "no maximum: as booted";
}

TEST(MemoryFor, TheGuestsOwnPlusTheLimitsWithinBootAndMax) {
  EXPECT_EQ(MemoryFor({{"pause", {}}}, 256, 256, 2048), 256) << "no limits: as booted";
  EXPECT_EQ(MemoryFor({{"a", Res(R"({"memory":{"limit":536870912}})")}}, 256, 256, 2048), 768);
  EXPECT_EQ(MemoryFor({{"a", Res(R"({"memory":{"limit":536870912}})")}, {"b", Res(R"({"memory":{"limit":1}})")}},
                      256, 256, 2048), 769) << "limits round up to MiB";
  EXPECT_EQ(MemoryFor({{"a", Res(R"({"memory":{"limit":8589934592}})")}}, 256, 256, 2048), 2048) << "capped";
  EXPECT_EQ(MemoryFor({{"a", Res(R"({"memory":{"limit":67108864}})")}}, 256, 1024, 2048), 1024) << "at least as booted";
  EXPECT_EQ(MemoryFor({{"a", Res(R"({"memory":{"limit":536870912}})")}}, 256, 256, 0), 256) << "no maximum";
  EXPECT_EQ(MemoryFor({{"a", Res(R"({"memory":{"limit":9223372036854775807}})")},
                       {"b", Res(R"({"memory":{"limit":9223372036854775807}})")}}, 256, 256, 4096), 4096)
      << "no overflow";
}

TEST(MergeResources, AnUpdateKeepsWhatItDoesNotSet) {
  oci::Resources r = MergeResources(Res(R"({"cpu":{"quota":50000,"period":100000},"memory":{"limit":1000000}})"),
                                    Res(R"({"memory":{"limit":2000000}})"));
  EXPECT_EQ(r.cpu_quota, 50000);
  EXPECT_EQ(r.memory_limit, 2000000);
  EXPECT_EQ(r.raw["memory"]["limit"], 2000000);
  EXPECT_EQ(r.raw["cpu"]["quota"], 50000);
}

TEST(CgroupfsPath, PathsAndSystemdNames) {
  EXPECT_EQ(*CgroupfsPath("/kubepods/pod1/abc"), "/kubepods/pod1/abc");
  EXPECT_EQ(*CgroupfsPath("relative/x"), "relative/x");
  EXPECT_EQ(*CgroupfsPath("kubepods-burstable-pod1.slice:cri-containerd:abc"),
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-abc.scope");
  EXPECT_EQ(*CgroupfsPath("machine.slice:libpod:abc"), "/machine.slice/libpod-abc.scope");
  EXPECT_EQ(*CgroupfsPath(":runc:abc"), "/system.slice/runc-abc.scope");
  EXPECT_EQ(*CgroupfsPath("-:p:x.slice"), "/x.slice");
  auto bad = CgroupfsPath("a:b");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("slice:prefix:name"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(CgroupfsPath("user/1000.slice:p:n").ok());
}

std::string Slurp(const std::string& path) {
  auto t = fs::ReadFile(path);
  return t.ok() ? Trim(*t) : "<" + t.status().message() + ">";
}

// The directory of the hierarchy holding `file` (cpu.max or cpu.cfs_quota_us...), or "".
std::string DirWith(const HostCgroup& cg, std::initializer_list<const char*> files) {
  for (const std::string& d : cg.dirs())
    for (const char* f : files)
      if (fs::Exists(d + "/" + f)) return d + "/" + f;
  return "";
}

class HostCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    path_ = "/kata-unit-test/sb-" + std::to_string(getpid());
  }
  void TearDown() override {
    for (const char* h : {"cpu", "memory", "pids", "cpuset", "blkio", "cpuacct", "devices", "freezer", "systemd", "unified", ""}) {
      std::string base = std::string("/sys/fs/cgroup/") + h + "/kata-unit-test";
      rmdir((base + "/sb-" + std::to_string(getpid())).c_str());
      rmdir(base.c_str());
    }
  }
  std::string path_;
};

TEST_F(HostCgroupTest, CreateApplyJoinAndRemoveLeaveNothing) {
  auto cg = HostCgroup::Create(path_);
  ASSERT_TRUE(cg.ok()) << cg.status().message();
  ASSERT_FALSE(cg->dirs().empty());
  for (const std::string& d : cg->dirs()) EXPECT_TRUE(fs::Exists(d + "/cgroup.procs")) << d;

  HostLimits l = SandboxLimits({{"c", Res(R"({"cpu":{"quota":50000,"period":100000},"memory":{"limit":268435456},"pids":{"limit":64}})")}});
  ASSERT_TRUE(cg->Apply(l).ok()) << cg->Apply(l).message();
  std::string quota = DirWith(*cg, {"cpu.cfs_quota_us", "cpu.max"});
  ASSERT_FALSE(quota.empty()) << "no cpu controller on this host";
  EXPECT_EQ(Slurp(quota), quota.find("cpu.max") != std::string::npos ? "50000 100000" : "50000");
  std::string mem = DirWith(*cg, {"memory.limit_in_bytes", "memory.max"});
  ASSERT_FALSE(mem.empty());
  EXPECT_EQ(Slurp(mem), std::to_string(268435456 + kVmMemoryOverheadBytes));
  EXPECT_EQ(Slurp(DirWith(*cg, {"pids.max"})), std::to_string(64 + kVmPidsOverhead));

  // A process moved in is in every hierarchy's directory (cpuset included:
  // a new v1 cpuset group takes no process until given CPUs).
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_TRUE(cg->Join(child).ok()) << cg->Join(child).message();
  std::vector<std::string> in = CgroupDirsOf(std::to_string(child));
  for (const std::string& d : cg->dirs()) EXPECT_NE(std::find(in.begin(), in.end(), d), in.end()) << d;

  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_TRUE(cg->Remove().ok());
  for (const std::string& d : cg->dirs()) EXPECT_FALSE(fs::Exists(d)) << d;

  // The record written for `delete` after a crash reads back the same.
  ASSERT_TRUE(fs::MkdirAll("/tmp/kata-unit-hostcg").ok());
  ASSERT_TRUE(cg->Record("/tmp/kata-unit-hostcg/rec").ok());
  auto back = HostCgroup::Recorded("/tmp/kata-unit-hostcg/rec");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->dirs(), cg->dirs());
  (void)fs::RemoveAll("/tmp/kata-unit-hostcg");
}

// A whole disk of this host ("major:minor"), or "" (throttles need one).
std::string SomeDisk() {
  for (const char* name : {"vda", "sda", "nvme0n1", "xvda", "hda"}) {
    auto dev = fs::ReadFile(std::string("/sys/block/") + name + "/dev");
    if (dev.ok()) return Trim(*dev);
  }
  return "";
}

TEST_F(HostCgroupTest, ThrottlesAreWrittenAndLiftedWhenNoLongerAsked) {
  std::string disk = SomeDisk();
  if (disk.empty()) GTEST_SKIP() << "no disk to throttle";
  auto cg = HostCgroup::Create(path_);
  ASSERT_TRUE(cg.ok()) << cg.status().message();
  std::string file = DirWith(*cg, {"blkio.throttle.read_bps_device", "io.max"});
  if (file.empty()) GTEST_SKIP() << "no blkio/io controller";
  size_t colon = disk.find(':');
  oci::Resources r = Res(R"({"blockIO":{"throttleReadBpsDevice":[{"major":)" + disk.substr(0, colon) + R"(,"minor":)" +
                         disk.substr(colon + 1) + R"(,"rate":1048576}]}})");
  HostLimits with = SandboxLimits({{"c", r}});
  ASSERT_TRUE(cg->Apply(with).ok()) << cg->Apply(with).message();
  EXPECT_NE(Slurp(file).find(disk + (file.find("io.max") != std::string::npos ? " rbps=1048576" : " 1048576")), std::string::npos)
      << Slurp(file);
  ASSERT_TRUE(cg->Apply(HostLimits{}, with).ok());
  EXPECT_EQ(Slurp(file).find("1048576"), std::string::npos) << Slurp(file);
  EXPECT_TRUE(cg->Remove().ok());
}

TEST_F(HostCgroupTest, RemoveNamesWhatStillRunsInside) {
  auto cg = HostCgroup::Create(path_);
  ASSERT_TRUE(cg.ok()) << cg.status().message();
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_TRUE(cg->Join(child).ok());
  Status st = cg->Remove();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(std::to_string(child)), std::string::npos) << st.message();
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(cg->Remove().ok());
}

TEST_F(HostCgroupTest, JoinAndLeaveMoveThisProcessBack) {
  std::vector<std::string> before = CgroupDirsOf("self");
  auto cg = HostCgroup::Create(path_);
  ASSERT_TRUE(cg.ok()) << cg.status().message();
  ASSERT_TRUE(cg->Join(getpid()).ok());
  EXPECT_NE(CgroupDirsOf("self"), before);
  cg->Leave();
  EXPECT_EQ(CgroupDirsOf("self"), before);
  EXPECT_TRUE(cg->Remove().ok());
}

TEST_F(HostCgroupTest, ARecordNeverNamesADirectoryOutsideTheCgroupTree) {
  ASSERT_TRUE(fs::MkdirAll("/tmp/kata-unit-hostcg2").ok());
  ASSERT_TRUE(fs::WriteFileAtomic("/tmp/kata-unit-hostcg2/rec", "/etc\n/sys/fs/cgroup/../../etc\n/sys/fs/cgroup/pids/x\n").ok());
  auto back = HostCgroup::Recorded("/tmp/kata-unit-hostcg2/rec");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->dirs(), std::vector<std::string>{"/sys/fs/cgroup/pids/x"});
  (void)fs::RemoveAll("/tmp/kata-unit-hostcg2");
}

}  // namespace
}  // namespace kata::sandbox
