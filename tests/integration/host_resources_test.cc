// The host stays in charge (issue 14): the sandbox's host cgroup at the
// spec's cgroupsPath holds QEMU, the service and the monitor, carries the
// limits, enforces them on the VM as the host sees it, follows `update`, and
// is gone after delete. Measured on the host, never in the guest.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "harness.h"

namespace kata::itest {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return Trim(ss.str());
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// The directory of `cgroup` (an absolute cgroupsPath) in the hierarchy that
// has `file` (v1 or hybrid: /sys/fs/cgroup/<controller>; v2: /sys/fs/cgroup).
std::string KnobPath(const std::string& cgroup, std::initializer_list<const char*> files) {
  for (const char* file : files)
    for (const char* h : {"cpu", "cpu,cpuacct", "memory", "pids", "cpuacct", ""}) {
      std::string p = std::string("/sys/fs/cgroup/") + h + cgroup + "/" + file;
      if (Exists(p)) return p;
    }
  return "";
}

// Host CPU time the cgroup used, in seconds.
double CpuSeconds(const std::string& cgroup) {
  std::string v1 = KnobPath(cgroup, {"cpuacct.usage"});
  if (!v1.empty()) return std::stod(Slurp(v1)) / 1e9;
  std::istringstream stat(Slurp(KnobPath(cgroup, {"cpu.stat"})));
  for (std::string key, value; stat >> key >> value;)
    if (key == "usage_usec") return std::stod(value) / 1e6;
  return -1;
}

class HostResourcesTest : public ::testing::Test {
 protected:
  // The tests' parent group, left as runc leaves a parent: removed once empty.
  static void TearDownTestSuite() { Sh("rmdir /sys/fs/cgroup/*/kata-itest /sys/fs/cgroup/kata-itest 2>/dev/null"); }
  TempDir tmp;
  CmdResult Kata(std::vector<std::string> args) {
    args.insert(args.begin(), Runtime());
    return itest::Run(args);
  }
  // A busybox bundle whose linux object gets `linux_extra` merged in.
  std::string Bundle(const std::vector<std::string>& args, const nlohmann::json& linux_extra) {
    std::string dir = tmp.path() + "/bundle";
    MakeBundle(dir, args);
    std::ifstream in(dir + "/config.json");
    nlohmann::json spec = nlohmann::json::parse(in);
    spec["linux"].merge_patch(linux_extra);
    std::ofstream(dir + "/config.json") << spec.dump(2);
    return dir;
  }
};

TEST_F(HostResourcesTest, TheSandboxCgroupHoldsTheVmAndEnforcesItsCpuLimit) {
  std::string id = UniqueId("hostcg");
  std::string cgroup = "/kata-itest/" + id;
  const long long kMemory = 128ll << 20;
  std::string bundle = Bundle({"sh", "-c", "while :; do :; done"},
                              {{"cgroupsPath", cgroup},
                               {"resources",
                                {{"cpu", {{"quota", 50000}, {"period", 100000}}},
                                 {"memory", {{"limit", kMemory}}},
                                 {"pids", {{"limit", 100}}}}}});
  std::string pid_file = tmp.path() + "/pid";
  CmdResult r = Kata({"run", "-d", "--pid-file", pid_file, "--bundle", bundle, id});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // The limits, runtime-tools style: the file at cgroupsPath says them.
  std::string quota = KnobPath(cgroup, {"cpu.cfs_quota_us", "cpu.max"});
  ASSERT_FALSE(quota.empty()) << "no cgroup at " << cgroup;
  EXPECT_EQ(Slurp(quota), quota.find("cpu.max") != std::string::npos ? "50000 100000" : "50000");
  std::string memory = KnobPath(cgroup, {"memory.limit_in_bytes", "memory.max"});
  ASSERT_FALSE(memory.empty());
  long long memory_limit = std::stoll(Slurp(memory));
  EXPECT_GE(memory_limit, kMemory) << "the containers' own limit, plus the VM's overhead";
  EXPECT_LE(memory_limit, kMemory + (512ll << 20));
  std::string pids = KnobPath(cgroup, {"pids.max"});
  ASSERT_FALSE(pids.empty());
  EXPECT_GE(std::stoll(Slurp(pids)), 100);

  // QEMU, the service and the monitor (the pid-file's process) are inside.
  std::string procs = " " + Sh("tr '\\n' ' ' < " + quota.substr(0, quota.rfind('/')) + "/cgroup.procs").out + " ";
  std::string qemu = Trim(Sh("pgrep -f '[q]emu-system.*sandbox-" + id + "( |$)' | head -1").out);
  std::string service = Trim(Sh("pgrep -f '[c]ontainerd-shim-kata-v2 .*-id " + id + " ' | head -1").out);
  std::string monitor = Slurp(pid_file);
  for (const auto& [what, pid] : {std::pair{"QEMU", qemu}, {"service", service}, {"monitor", monitor}}) {
    ASSERT_FALSE(pid.empty()) << what;
    EXPECT_NE(procs.find(" " + pid + " "), std::string::npos) << what << " " << pid << " not in " << procs;
  }

  // The guest spins its one vCPU flat out; the host gives the whole VM
  // half a CPU.
  double t0 = CpuSeconds(cgroup);
  auto w0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(4));  // the window the CPU use is measured over
  double used = (CpuSeconds(cgroup) - t0) / std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  std::cout << "busy sandbox limited to 0.5 CPU used " << used << " host CPUs\n";
  EXPECT_LE(used, 0.5 * 1.15) << "host CPUs used by the sandbox";
  EXPECT_GE(used, 0.2) << "the busy loop should use (most of) its half CPU";

  // update reaches the host cgroup too.
  CmdResult u = Kata({"update", "--cpu-quota", "100000", "--memory", std::to_string(kMemory * 2), id});
  EXPECT_EQ(u.exit_code, 0) << u.err;
  EXPECT_EQ(Slurp(quota), quota.find("cpu.max") != std::string::npos ? "100000 100000" : "100000");
  EXPECT_EQ(std::stoll(Slurp(memory)), memory_limit + kMemory);

  EXPECT_EQ(Kata({"delete", "--force", id}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
  EXPECT_FALSE(Exists(quota.substr(0, quota.rfind('/')))) << "the cgroup must go with the sandbox";
}

// The workload meets its limit in the guest (its cgroup there kills it);
// the host's limit holds the whole VM, which stays up.
TEST_F(HostResourcesTest, AContainerFillingItsMemoryKeepsTheVmWithinTheHostLimit) {
  std::string id = UniqueId("hostcgmem");
  std::string cgroup = "/kata-itest/" + id;
  const long long kMemory = 128ll << 20;
  std::string bundle = Bundle({"sleep", "600"}, {{"cgroupsPath", cgroup}, {"resources", {{"memory", {{"limit", kMemory}}}}}});
  ASSERT_EQ(Kata({"run", "-d", "--bundle", bundle, id}).exit_code, 0);
  std::string limit = KnobPath(cgroup, {"memory.limit_in_bytes", "memory.max"});
  ASSERT_FALSE(limit.empty());
  // runc's `events` stream reports the OOM kill.
  std::string events = tmp.path() + "/events";
  Sh("(timeout 20 " + Runtime() + " events --interval 30s " + id + " > " + events + " 2>&1 &)");
  // It takes its starting offset in the OOM record, then prints its first
  // stats line: from then on it reports every OOM kill (else the check below
  // fails, showing the file).
  WaitUntil([&] { return Slurp(events).find("\"type\":\"stats\"") != std::string::npos; }, 10s);
  CmdResult fill = Kata({"exec", id, "sh", "-c", "tail /dev/zero; echo exit-$?"});
  EXPECT_NE(fill.out.find("exit-137"), std::string::npos) << "the guest's OOM killer ends the allocation: " << fill.out << fill.err;
  std::string oom = "{\"id\":\"" + id + "\",\"type\":\"oom\"}";
  WaitUntil([&] { return Slurp(events).find(oom) != std::string::npos; }, 5s);
  EXPECT_NE(Slurp(events).find(oom), std::string::npos) << "kata-runtime events: " << Slurp(events);
  std::string peak = KnobPath(cgroup, {"memory.max_usage_in_bytes", "memory.peak"});
  if (!peak.empty()) {
    long long used = std::stoll(Slurp(peak)), allowed = std::stoll(Slurp(limit));
    std::cout << "container limited to 128 MiB filled it: the VM peaked at " << (used >> 20) << " MiB on the host (limit "
              << (allowed >> 20) << " MiB)\n";
    EXPECT_LE(used, allowed);
    EXPECT_GE(used, kMemory) << "the guest's allocation is charged to the sandbox on the host";
  }
  EXPECT_EQ(Kata({"exec", id, "true"}).exit_code, 0) << "the VM survives its container's OOM";
  Sh("pkill -f '[e]vents --interval 30s " + id + "'");
  EXPECT_EQ(Kata({"delete", "--force", id}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

// A container limited to 2 CPUs in a VM booted with one finds two online
// (as many as the host has, if fewer); update shrinks it back.
TEST_F(HostResourcesTest, TheVmOnlinesTheVcpusItsContainerAsksFor) {
  std::string id = UniqueId("hostcgcpus");
  std::string bundle = Bundle({"sleep", "600"}, {{"resources", {{"cpu", {{"quota", 200000}, {"period", 100000}}}}}});
  ASSERT_EQ(Kata({"run", "-d", "--bundle", bundle, id}).exit_code, 0);
  std::string want = std::min(2L, sysconf(_SC_NPROCESSORS_ONLN)) == 2 ? "0-1" : "0";
  EXPECT_EQ(Trim(Kata({"exec", id, "cat", "/sys/devices/system/cpu/online"}).out), want);
  CmdResult u = Kata({"update", "--cpu-quota", "50000", id});
  EXPECT_EQ(u.exit_code, 0) << u.err;
  EXPECT_EQ(Trim(Kata({"exec", id, "cat", "/sys/devices/system/cpu/online"}).out), "0");
  EXPECT_EQ(Kata({"delete", "--force", id}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

TEST_F(HostResourcesTest, ACrashedServiceLeavesNoCgroupAfterDelete) {
  std::string id = UniqueId("hostcgkill");
  std::string cgroup = "/kata-itest/" + id;
  std::string bundle = Bundle({"sleep", "600"}, {{"cgroupsPath", cgroup}});
  ASSERT_EQ(Kata({"run", "-d", "--bundle", bundle, id}).exit_code, 0);
  std::string procs = KnobPath(cgroup, {"cgroup.procs"});
  ASSERT_FALSE(procs.empty());
  ASSERT_EQ(Sh("pkill -9 -f '[c]ontainerd-shim-kata-v2 .*-id " + id + " '").exit_code, 0);
  EXPECT_EQ(Kata({"delete", "--force", id}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
  EXPECT_FALSE(Exists(procs));
}

TEST_F(HostResourcesTest, AnUnknownCgroupsPathFormIsRefusedNamingIt) {
  std::string id = UniqueId("hostcgbad");
  std::string bundle = Bundle({"true"}, {{"cgroupsPath", "not:a-systemd-path"}});
  CmdResult r = Kata({"run", "--bundle", bundle, id});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not:a-systemd-path"), std::string::npos) << r.err;
  Kata({"delete", "--force", id});
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

}  // namespace
}  // namespace kata::itest
