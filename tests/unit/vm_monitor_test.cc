// What bounds a guest's influence on the host over time (issue 12 Medium 6
// and the Lows on silent agents and kept logs): VmMonitor rotates a growing
// console log and stops a VM whose agent went silent; kept failure logs are
// cut and pruned. Limits are shrunk so each case takes well under a second.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "common/fs_at.h"
#include "sandbox/failure_log.h"
#include "sandbox/vm_monitor.h"
#include "wait_until.h"

namespace kata::sandbox {
namespace {

using std::chrono::milliseconds;
using test_util::WaitUntil;

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

class VmMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-vm-monitor-test.XXXXXX";
    dir_ = mkdtemp(tmpl);
    log_ = dir_ + "/console.log";
  }
  void TearDown() override { (void)fs::RemoveTreeNoFollow(dir_); }

  static VmMonitorLimits Fast() {
    VmMonitorLimits l;
    l.console_log_max = 1024;
    l.tick = milliseconds(10);
    l.agent_check_interval = milliseconds(20);
    l.agent_silence_limit = milliseconds(200);
    return l;
  }

  static uint64_t SizeOf(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  }

  std::string dir_, log_;
};

TEST_F(VmMonitorTest, ConsoleLogPastItsLimitIsRotatedKeepingTheLatestOutput) {
  // What a flooding guest leaves: 4 KiB ending in the line that matters.
  std::string flood(4096 - 6, 'x');
  ASSERT_TRUE(fs::WriteFileAtomic(log_, flood + "\nlast\n").ok());
  VmMonitor m("sb", log_, [](milliseconds) { return true; }, [] {}, Fast());
  ASSERT_TRUE(WaitUntil([&] { return SizeOf(log_) < 1024; }, milliseconds(2000))) << SizeOf(log_);
  std::string kept = *fs::ReadFile(log_ + ".1");
  EXPECT_EQ(kept.size(), 1024u);
  EXPECT_EQ(kept.substr(kept.size() - 6), "\nlast\n");
  EXPECT_NE(fs::ReadFile(log_)->find("rotated at 1 KiB"), std::string::npos);
}

TEST_F(VmMonitorTest, RotationNeverKeepsMoreThanTwoLogs) {
  VmMonitor m("sb", log_, [](milliseconds) { return true; }, [] {}, Fast());
  for (int round = 0; round < 5; round++) {
    ASSERT_TRUE(fs::WriteFileAtomic(log_, std::string(3000, 'a' + round)).ok());
    ASSERT_TRUE(WaitUntil([&] { return SizeOf(log_) < 1024; }, milliseconds(2000)));
  }
  EXPECT_EQ(fs::ReadFile(log_ + ".1")->back(), 'e');  // the last round's
  int files = 0;
  for (const auto& name : Names(dir_)) files += name.rfind("console.log", 0) == 0;
  EXPECT_EQ(files, 2);
}

TEST_F(VmMonitorTest, ASymlinkedConsoleLogIsNotFollowed) {
  std::string target = dir_ + "/host-file";
  ASSERT_TRUE(fs::WriteFileAtomic(target, std::string(4096, 'h')).ok());
  ASSERT_EQ(symlink(target.c_str(), log_.c_str()), 0);
  VmMonitor m("sb", log_, [](milliseconds) { return true; }, [] {}, Fast());
  std::this_thread::sleep_for(milliseconds(100));  // a sleep on purpose: ~10 ticks, none may write through the link
  m.Stop();
  EXPECT_EQ(SizeOf(target), 4096u);  // not truncated through the link
}

TEST_F(VmMonitorTest, ASilentAgentGetsItsVmStoppedOnce) {
  std::atomic<int> stops{0};
  VmMonitor m("sb", log_, [](milliseconds) { return false; }, [&] { stops++; }, Fast());
  ASSERT_TRUE(WaitUntil([&] { return stops.load() > 0; }, milliseconds(2000)));
  std::this_thread::sleep_for(milliseconds(300));  // more silence: no second stop
  EXPECT_EQ(stops.load(), 1);
}

TEST_F(VmMonitorTest, AnAgentThatAnswersKeepsItsVm) {
  std::atomic<int> stops{0}, checks{0};
  VmMonitor m("sb", log_, [&](milliseconds) { return ++checks % 3 != 0; }, [&] { stops++; }, Fast());
  std::this_thread::sleep_for(milliseconds(500));  // 2.5 silence limits, with a missed check now and then
  m.Stop();
  EXPECT_GT(checks.load(), 5);
  EXPECT_EQ(stops.load(), 0);
}

TEST_F(VmMonitorTest, KeptFailureLogsAreCutAndPruned) {
  std::string logs = dir_ + "/kept";
  KeptLogLimits limits{.max_bytes = 100, .max_count = 3};
  std::string first = KeepFailureLog(logs, "sb0-console.log", std::string(500, 'a') + "END", limits);
  ASSERT_EQ(first, logs + "/sb0-console.log");
  std::string text = *fs::ReadFile(first);
  EXPECT_EQ(text.size(), 100u);
  EXPECT_EQ(text.substr(97), "END");  // the tail: what explains the failure
  for (int i = 1; i <= 4; i++) {
    std::this_thread::sleep_for(milliseconds(5));  // distinct mtimes
    ASSERT_FALSE(KeepFailureLog(logs, "sb" + std::to_string(i) + "-console.log", "x", limits).empty());
  }
  EXPECT_EQ(Names(logs), (std::vector<std::string>{"sb2-console.log", "sb3-console.log", "sb4-console.log"}));
}

}  // namespace
}  // namespace kata::sandbox
