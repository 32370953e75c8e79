// A recorded pid is signalled only while it is still the recorded process
// (issue 12: `delete` SIGKILLed whatever process had the service's old pid).
#include "common/process_identity.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "wait_until.h"

namespace kata::proc {
namespace {

// A `sleep` child, killed and reaped at the end of the test.
class SleepProcess {
 public:
  SleepProcess() {
    pid_ = fork();
    if (pid_ == 0) {
      execlp("sleep", "sleep", "60", static_cast<char*>(nullptr));
      _exit(127);
    }
    // Until exec has happened, /proc/<pid>/exe is this test binary.
    test_util::WaitUntil([&] { return Exe().find("sleep") != std::string::npos; }, std::chrono::seconds(1),
                         std::chrono::milliseconds(2));
  }
  ~SleepProcess() {
    if (reaped_) return;  // the pid may be someone else's by now
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  std::string Exe() const {
    char buf[4096];
    ssize_t n = readlink(("/proc/" + std::to_string(pid_) + "/exe").c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  // Whether it was signalled to death (a zombie until reaped) within a second.
  bool Exited() {
    if (!test_util::WaitUntil([&] { return waitpid(pid_, nullptr, WNOHANG) == pid_; }, std::chrono::seconds(1),
                              std::chrono::milliseconds(2))) {
      return false;
    }
    reaped_ = true;
    return true;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

TEST(ProcessIdentity, IdentityOfALiveProcess) {
  SleepProcess p;
  auto id = IdentityOf(p.pid());
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(id->pid, p.pid());
  EXPECT_GT(id->start_time, 0u);
  EXPECT_TRUE(StillRunning(*id));
  EXPECT_FALSE(IdentityOf(0).ok());
}

TEST(ProcessIdentity, ARecycledPidIsNotSignalled) {
  SleepProcess p;
  auto id = IdentityOf(p.pid());
  ASSERT_TRUE(id.ok());
  // The pid is alive, but the record says it started at another time: what a
  // recycled pid looks like.
  Identity recorded{p.pid(), id->start_time + 1};
  EXPECT_FALSE(StillRunning(recorded));
  Status st = SignalVerified(recorded, "sleep", SIGKILL);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("another process"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("not signalling"), std::string::npos) << st.message();
  EXPECT_FALSE(p.Exited()) << "a process that is not the recorded one was killed";
}

TEST(ProcessIdentity, ARecordWithoutAStartTimeIsNotSignalled) {
  SleepProcess p;
  Status st = SignalVerified({p.pid(), 0}, "sleep", SIGKILL);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("without its start time"), std::string::npos) << st.message();
  EXPECT_FALSE(p.Exited());
}

TEST(ProcessIdentity, AnotherBinaryIsNotSignalled) {
  SleepProcess p;
  auto id = IdentityOf(p.pid());
  ASSERT_TRUE(id.ok());
  Status st = SignalVerified(*id, "containerd-shim-kata-v2", SIGKILL);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not containerd-shim-kata-v2"), std::string::npos) << st.message();
  EXPECT_FALSE(p.Exited());
}

TEST(ProcessIdentity, TheRecordedProcessIsSignalled) {
  SleepProcess p;
  auto id = IdentityOf(p.pid());
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(SignalVerified(*id, "sleep", SIGKILL).ok());
  EXPECT_TRUE(p.Exited());
  // Gone (and reaped): NotFound, not an error about someone else.
  Status again = SignalVerified(*id, "sleep", SIGKILL);
  EXPECT_EQ(again.code(), Code::kNotFound) << again.message();
  EXPECT_FALSE(StillRunning(*id));
}

TEST(ProcessIdentity, AnExitedProcessIsNotFound) {
  auto pidfd = OpenVerifiedPidfd({999999999, 1}, "");
  EXPECT_EQ(pidfd.status().code(), Code::kNotFound);
}

TEST(ProcessIdentity, WaitPidfdExitSeesTheExit) {
  SleepProcess p;
  auto id = IdentityOf(p.pid());
  ASSERT_TRUE(id.ok());
  auto pidfd = OpenVerifiedPidfd(*id, "sleep");
  ASSERT_TRUE(pidfd.ok()) << pidfd.status().message();
  EXPECT_FALSE(WaitPidfdExit(pidfd->get(), std::chrono::milliseconds(20)));
  kill(p.pid(), SIGKILL);
  EXPECT_TRUE(WaitPidfdExit(pidfd->get(), std::chrono::seconds(5)));
}


}  // namespace
}  // namespace kata::proc
