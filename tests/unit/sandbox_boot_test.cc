// Sandbox::Boot, Shutdown and the VM's end without a VM (the integration
// suite's sandbox_test boots real ones): the fake hypervisor
// (fake_hypervisor.h) stands in for QEMU and serves the real agent in this
// process. Root only (mounts); each test process has /run and /var/log of
// its own (PrivateHostPaths), so nothing it makes reaches the host.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>

#include "common/fs.h"
#include "common/process_identity.h"
#include "fake_hypervisor.h"
#include "sandbox/failure_log.h"
#include "sandbox/paths.h"
#include "sandbox/sandbox.h"
#include "wait_until.h"

namespace kata::sandbox {
namespace {

using namespace std::chrono_literals;

const auto* const kPrivateHostPaths = ::testing::AddGlobalTestEnvironment(new test_util::PrivateHostPaths);

bool HasDirectories(const std::string& id) { return fs::Exists(VmRunDir(id)) || fs::Exists(SharedSandboxDir(id)); }

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (mounts, /run/vc)";
  }

  // The directories are named after the id: one per test.
  static SandboxConfig Config() {
    SandboxConfig c;
    c.id = std::string("unit-") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    c.hypervisor = "fake";
    c.agent_timeout = 5s;
    return c;
  }

  test_util::FakeBackend backend_;  // "fake", with no failure
};

TEST_F(SandboxTest, BootsWithTheFakeAndItsAgentAnswers) {
  SandboxConfig cfg = Config();
  auto sb = Sandbox::Boot(cfg);
  ASSERT_TRUE(sb.ok()) << sb.status().message();
  EXPECT_EQ(backend_.vms_made(), 1);
  EXPECT_TRUE((*sb)->vm_running());
  EXPECT_GT((*sb)->vmm_pid(), 0);
  auto details = (*sb)->agent().GetGuestDetails();
  ASSERT_TRUE(details.ok()) << details.status().message();
  EXPECT_EQ(details->agent_version(), KATA_VERSION);
  EXPECT_GT(details->agent_ready_boottime_ns(), 0);
  EXPECT_TRUE((*sb)->agent().Check(1s).ok());
  // Where kata-runtime and the shim's cleanup find the VM of a sandbox.
  EXPECT_TRUE(fs::Exists(VmRunDir(cfg.id) + "/vmm.identity"));
  EXPECT_TRUE(fs::Exists((*sb)->share().source_dir()));
}

TEST_F(SandboxTest, ShutdownRemovesItsDirectoriesIsIdempotentAndIsNoCrash) {
  SandboxConfig cfg = Config();
  auto sb = Sandbox::Boot(cfg);
  ASSERT_TRUE(sb.ok()) << sb.status().message();
  std::atomic<int> exits{0};
  (*sb)->OnVmExit([&exits] { exits++; });
  pid_t vmm = (*sb)->vmm_pid();
  Status st = (*sb)->Shutdown();
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_FALSE(HasDirectories(cfg.id));
  // The fake VMM's process is gone (killed and reaped).
  EXPECT_TRUE(test_util::WaitUntil([&] { return !proc::IdentityOf(vmm).ok(); }, 2s)) << "the VMM outlived Shutdown";
  st = (*sb)->Shutdown();
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(exits, 0) << "a VM stopped by Shutdown was reported as a crash";
}

TEST_F(SandboxTest, AFailedVmmStartFailsBootNamingTheCauseAndLeavesNoDirectory) {
  test_util::FakeVmOptions o;
  o.start_error = "could not access KVM kernel module: No such file or directory";
  backend_.set_options(o);
  SandboxConfig cfg = Config();
  auto sb = Sandbox::Boot(cfg);
  ASSERT_FALSE(sb.ok());
  const std::string& msg = sb.status().message();
  EXPECT_NE(msg.find("sandbox " + cfg.id), std::string::npos) << msg;
  EXPECT_NE(msg.find("could not access KVM kernel module"), std::string::npos) << msg;
  // The run dir is gone: the error names the copy of the VMM's log that stays.
  std::string kept = std::string(kFailedLogDir) + "/" + cfg.id + "-fake-vmm.log";
  EXPECT_NE(msg.find("(see " + kept + ")"), std::string::npos) << msg;
  auto text = fs::ReadFile(kept);
  EXPECT_TRUE(text.ok() && text->find("KVM kernel module") != std::string::npos);
  EXPECT_FALSE(HasDirectories(cfg.id));
}

TEST_F(SandboxTest, TheVmDyingAfterBootCallsOnVmExitAndEndsAgentCalls) {
  auto sb = Sandbox::Boot(Config());
  ASSERT_TRUE(sb.ok()) << sb.status().message();
  std::promise<void> exited;
  (*sb)->OnVmExit([&exited] { exited.set_value(); });
  ASSERT_EQ(kill((*sb)->vmm_pid(), SIGKILL), 0);  // as a crashed QEMU
  ASSERT_EQ(exited.get_future().wait_for(5s), std::future_status::ready) << "OnVmExit was not called";
  EXPECT_FALSE((*sb)->vm_running());
  EXPECT_FALSE((*sb)->agent().GetGuestDetails().ok()) << "the agent answered after its VM died";
  EXPECT_TRUE((*sb)->Shutdown().ok());
}

TEST_F(SandboxTest, AVmThatExitsByItselfIsNoticed) {
  test_util::FakeVmOptions o;
  o.die_after = 500ms;  // Boot takes a few ms
  backend_.set_options(o);
  auto sb = Sandbox::Boot(Config());
  ASSERT_TRUE(sb.ok()) << sb.status().message();
  std::promise<void> exited;
  (*sb)->OnVmExit([&exited] { exited.set_value(); });
  ASSERT_EQ(exited.get_future().wait_for(5s), std::future_status::ready) << "OnVmExit was not called";
  EXPECT_FALSE((*sb)->vm_running());
}

TEST_F(SandboxTest, AnAgentThatNeverAnswersFailsBootWithinTheTimeout) {
  test_util::FakeVmOptions o;
  o.console_text = "Run /init as init process\nKernel panic - not syncing: Attempted to kill init!\n";
  o.agent_silent = true;
  backend_.set_options(o);
  SandboxConfig cfg = Config();
  cfg.agent_timeout = 1500ms;
  auto t0 = std::chrono::steady_clock::now();
  auto sb = Sandbox::Boot(cfg);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(sb.ok());
  EXPECT_EQ(sb.status().code(), Code::kDeadlineExceeded) << sb.status().message();
  EXPECT_GE(took, cfg.agent_timeout);
  // The clean-up after it: up to 0.5 s for a VMM on its way out
  // (FailWithConsole), 2 s for DestroySandbox, which this agent never answers.
  EXPECT_LT(took, cfg.agent_timeout + 3s) << "Boot overran agent_timeout";
  // The guest's console says why: quoted, and kept past cleanup.
  const std::string& msg = sb.status().message();
  EXPECT_NE(msg.find("Kernel panic - not syncing: Attempted to kill init!"), std::string::npos) << msg;
  EXPECT_TRUE(fs::Exists(std::string(kFailedLogDir) + "/" + cfg.id + "-console.log"));
  EXPECT_FALSE(HasDirectories(cfg.id));
}

TEST_F(SandboxTest, AnIdInUseIsRefusedAndTheOtherSandboxKeepsItsDirectories) {
  SandboxConfig cfg = Config();
  auto first = Sandbox::Boot(cfg);
  ASSERT_TRUE(first.ok()) << first.status().message();
  auto second = Sandbox::Boot(cfg);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kAlreadyExists) << second.status().message();
  EXPECT_TRUE(fs::Exists(VmRunDir(cfg.id)));
  EXPECT_TRUE((*first)->agent().Check(1s).ok());
  EXPECT_EQ(backend_.vms_made(), 1) << "a VM was started for an id in use";
}

TEST_F(SandboxTest, AnUnknownHypervisorIsRefusedNamingTheOnesThereAre) {
  SandboxConfig cfg = Config();
  cfg.hypervisor = "firecracker";
  auto sb = Sandbox::Boot(cfg);
  ASSERT_FALSE(sb.ok());
  EXPECT_EQ(sb.status().code(), Code::kInvalidArgument);
  EXPECT_NE(sb.status().message().find("hypervisor \"firecracker\" is not supported (supported: qemu, fake)"),
            std::string::npos)
      << sb.status().message();
  EXPECT_FALSE(HasDirectories(cfg.id));
}

}  // namespace
}  // namespace kata::sandbox
