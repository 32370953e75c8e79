// sandbox::Container in a sandbox on the fake hypervisor: the host shares a
// busybox rootfs into the share, the real agent (in-process) launches the
// container from where the guest sees it, and its stdio and exit come back
// over the agent connection. Root only (namespaces, mounts).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/fs.h"
#include "fake_hypervisor.h"
#include "sandbox/container.h"
#include "sandbox/paths.h"
#include "sandbox/sandbox.h"

namespace kata::sandbox {
namespace {

using namespace std::chrono_literals;

const auto* const kPrivateHostPaths = ::testing::AddGlobalTestEnvironment(new test_util::PrivateHostPaths);
constexpr const char* kBundle = "/tmp/sandbox-container-test";

class SandboxContainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    Status st = test_util::WriteBusyboxRootfs(kBundle);
    ASSERT_TRUE(st.ok()) << st.message();
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, mounts)";
    SandboxConfig cfg;
    cfg.id = std::string("unit-c-") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    cfg.hypervisor = "fake";
    cfg.agent_timeout = 5s;
    auto sb = Sandbox::Boot(cfg);
    ASSERT_TRUE(sb.ok()) << sb.status().message();
    sb_ = std::move(*sb);
    out_ = std::string(kBundle) + "/" + cfg.id + ".out";
    ASSERT_TRUE(fs::WriteFileAtomic(out_, "", 0600).ok());
  }

  void TearDown() override {
    if (!sb_) return;
    Status st = sb_->Shutdown();
    EXPECT_TRUE(st.ok()) << st.message();
  }

  Result<std::unique_ptr<Container>> Create(const std::string& id, const std::vector<std::string>& args) {
    return Container::Create(*sb_, id, kBundle, test_util::ContainerSpec(std::string(kBundle) + "/rootfs", args),
                             StdioPaths{"", out_, out_, false});
  }

  test_util::FakeBackend backend_;
  std::unique_ptr<Sandbox> sb_;
  std::string out_;  // the containers' stdout and stderr
};

TEST_F(SandboxContainerTest, RunsItsProcessFromTheSharedRootfsToItsExit) {
  auto c = Create("c1", {"sh", "-c", "echo hello from $(hostname); exit 3"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ((*c)->state(), ContainerState::kCreated);
  // Shared where the host binds it for the guest.
  EXPECT_TRUE(fs::Exists(sb_->share().source_dir() + "/c1/rootfs/bin/busybox"));
  Status st = (*c)->Start();
  ASSERT_TRUE(st.ok()) << st.message();
  ExitInfo e = (*c)->init().Wait();
  EXPECT_EQ(e.status, 3);
  EXPECT_EQ((*c)->state(), ContainerState::kStopped);
  auto out = fs::ReadFile(out_);
  EXPECT_TRUE(out.ok() && *out == "hello from unit\n") << (out.ok() ? *out : out.status().message());
  st = (*c)->Delete(false);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_FALSE(fs::Exists(sb_->share().source_dir() + "/c1")) << "the container's share outlived it";
}

TEST_F(SandboxContainerTest, AKilledContainerReportsTheSignal) {
  auto c = Create("c2", {"sleep", "60"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE((*c)->Start().ok());
  EXPECT_EQ((*c)->state(), ContainerState::kRunning);
  Status running = (*c)->Delete(false);
  EXPECT_EQ(running.code(), Code::kFailedPrecondition) << "deleted a running container: " << running.message();
  ASSERT_TRUE((*c)->Kill("", SIGKILL, false).ok());
  EXPECT_EQ((*c)->init().Wait().status, 128 + SIGKILL);
  EXPECT_TRUE((*c)->Delete(false).ok());
}

TEST_F(SandboxContainerTest, TheVmDyingEndsItsContainers) {
  auto c = Create("c3", {"sleep", "60"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE((*c)->Start().ok());
  ASSERT_EQ(kill(sb_->vmm_pid(), SIGKILL), 0);
  auto t0 = std::chrono::steady_clock::now();
  ExitInfo e = (*c)->init().Wait();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(e.status, 255) << "a process of a dead VM reports 255";
  EXPECT_EQ((*c)->state(), ContainerState::kStopped);
  Status st = (*c)->Delete(true);
  EXPECT_TRUE(st.ok()) << st.message();
}

}  // namespace
}  // namespace kata::sandbox
