// shim::TaskService's methods called directly (no ttrpc), its sandbox on the
// fake hypervisor: the configuration names QEMU, so the fake stands in for
// it under that name (FakeBackend "qemu"). What an unknown id or a bad
// bundle gets, and a task's states from create to delete. Root only for
// what boots a sandbox (mounts, namespaces).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>

#include "common/fs.h"
#include "fake_hypervisor.h"
#include "sandbox/paths.h"
#include "shim/task_service.h"
#include "wait_until.h"

namespace kata::shim {
namespace {

using namespace std::chrono_literals;

const auto* const kPrivateHostPaths = ::testing::AddGlobalTestEnvironment(new test_util::PrivateHostPaths);

// The shipped defaults, less what would reach beyond the test: no host
// cgroup, no /dev/kvm needed, no virtiofsd.
config::LoadedConfig TestConfig() {
  config::LoadedConfig c;
  c.config.qemu.accelerator = "tcg";
  c.config.qemu.shared_fs = "virtio-9p";
  c.config.runtime.sandbox_cgroup_only = false;
  return c;
}

// The error is NotFound and names the id.
template <typename T>
void ExpectUnknown(const Result<T>& r, const std::string& id) {
  ASSERT_FALSE(r.ok()) << "an unknown id was accepted";
  EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().message();
  EXPECT_NE(r.status().message().find(id), std::string::npos) << r.status().message();
}

class TaskServiceTest : public ::testing::Test {
 protected:
  TaskServiceTest() : svc_(TestConfig(), [this] { shut_down_++; }) {}

  // Without root there is no private /tmp (PrivateHostPaths): the bundles go.
  void TearDown() override {
    svc_.Teardown();
    for (const std::string& dir : dirs_) EXPECT_TRUE(fs::RemoveAll(dir).ok()) << dir;
  }

  std::string TempDir(const std::string& name) {
    std::string dir = "/tmp/kata-task-test-" + std::to_string(getpid()) + "-" + name;
    dirs_.push_back(dir);
    EXPECT_TRUE(fs::MkdirAll(dir, 0700).ok()) << dir;
    return dir;
  }

  // <bundle>/config.json and rootfs/, stdout and stderr to <bundle>/out.
  task::CreateTaskRequest Bundle(const std::string& id, const std::vector<std::string>& args) {
    std::string bundle = TempDir(id);
    Status st = test_util::WriteBusyboxRootfs(bundle);
    if (st.ok()) st = fs::WriteFileAtomic(bundle + "/config.json", test_util::ContainerSpec("rootfs", args).dump());
    if (st.ok()) st = fs::WriteFileAtomic(bundle + "/out", "", 0600);
    EXPECT_TRUE(st.ok()) << st.message();
    task::CreateTaskRequest req;
    req.set_id(id);
    req.set_bundle(bundle);
    req.set_stdout(bundle + "/out");
    req.set_stderr(bundle + "/out");
    return req;
  }

  task::StateResponse StateOf(const std::string& id) {
    task::StateRequest req;
    req.set_id(id);
    auto r = svc_.State(req);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : task::StateResponse();
  }

  test_util::FakeBackend backend_{"qemu"};
  std::atomic<int> shut_down_{0};
  std::vector<std::string> dirs_;
  TaskService svc_;
};

TEST_F(TaskServiceTest, EveryMethodOnAnUnknownIdIsNotFoundNamingIt) {
  const std::string id = "no-such-task";
  task::StartRequest start;
  start.set_id(id);
  ExpectUnknown(svc_.Start(start), id);
  task::StateRequest state;
  state.set_id(id);
  ExpectUnknown(svc_.State(state), id);
  task::KillRequest kill;
  kill.set_id(id);
  kill.set_signal(SIGKILL);
  ExpectUnknown(svc_.Kill(kill), id);
  task::DeleteRequest del;
  del.set_id(id);
  ExpectUnknown(svc_.Delete(del), id);
  task::WaitRequest wait;
  wait.set_id(id);
  ExpectUnknown(svc_.Wait(wait), id);
  EXPECT_EQ(backend_.vms_made(), 0);
}

TEST_F(TaskServiceTest, ABundleWithoutConfigJsonIsRefusedNamingTheFile) {
  task::CreateTaskRequest req;
  req.set_id("t-empty");
  req.set_bundle(TempDir("empty"));
  auto r = svc_.Create(req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(req.bundle() + "/config.json"), std::string::npos) << r.status().message();
  EXPECT_EQ(backend_.vms_made(), 0) << "a VM was started for a bundle without a spec";
}

TEST_F(TaskServiceTest, ASpecThatDoesNotParseIsRefusedNamingTheFile) {
  task::CreateTaskRequest req;
  req.set_id("t-bad");
  req.set_bundle(TempDir("bad-spec"));
  ASSERT_TRUE(fs::WriteFileAtomic(req.bundle() + "/config.json", R"({"ociVersion": "1.0.2", "process": 7})").ok());
  auto r = svc_.Create(req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(req.bundle() + "/config.json"), std::string::npos) << r.status().message();
  EXPECT_EQ(backend_.vms_made(), 0);
}

TEST_F(TaskServiceTest, AContainerOfAnotherSandboxIsRefused) {
  task::CreateTaskRequest req = Bundle("t-joins", {"true"});
  nlohmann::json spec = test_util::ContainerSpec("rootfs", {"true"});
  spec["annotations"] = {{"io.kubernetes.cri.container-type", "container"}, {"io.kubernetes.cri.sandbox-id", "pod-x"}};
  ASSERT_TRUE(fs::WriteFileAtomic(req.bundle() + "/config.json", spec.dump()).ok());
  auto r = svc_.Create(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("belongs to sandbox pod-x"), std::string::npos) << r.status().message();
}

class TaskServiceVmTest : public TaskServiceTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, mounts)";
  }
};

TEST_F(TaskServiceVmTest, CreatedRunningStoppedDeleted) {
  task::CreateTaskRequest req = Bundle("t-life", {"sleep", "60"});
  auto created = svc_.Create(req);
  ASSERT_TRUE(created.ok()) << created.status().message();
  EXPECT_GT(created->pid(), 0u) << "the task pid is the VMM's";
  EXPECT_EQ(StateOf("t-life").status(), task::CREATED);
  task::StartRequest start;
  start.set_id("t-life");
  ASSERT_TRUE(svc_.Start(start).ok());
  EXPECT_EQ(StateOf("t-life").status(), task::RUNNING);
  task::KillRequest kill;
  kill.set_id("t-life");
  kill.set_signal(SIGKILL);
  ASSERT_TRUE(svc_.Kill(kill).ok());
  task::WaitRequest wait;
  wait.set_id("t-life");
  auto waited = svc_.Wait(wait);
  ASSERT_TRUE(waited.ok()) << waited.status().message();
  EXPECT_EQ(waited->exit_status(), 128u + SIGKILL);
  task::StateResponse stopped = StateOf("t-life");
  EXPECT_EQ(stopped.status(), task::STOPPED);
  EXPECT_EQ(stopped.exit_status(), 128u + SIGKILL);
  task::DeleteRequest del;
  del.set_id("t-life");
  auto deleted = svc_.Delete(del);
  ASSERT_TRUE(deleted.ok()) << deleted.status().message();
  EXPECT_EQ(deleted->exit_status(), 128u + SIGKILL);
  task::StateRequest state;
  state.set_id("t-life");
  ExpectUnknown(svc_.State(state), "t-life");
  task::ShutdownRequest shutdown;
  ASSERT_TRUE(svc_.Shutdown(shutdown).ok());
  EXPECT_EQ(shut_down_, 1);
  EXPECT_FALSE(fs::Exists(sandbox::VmRunDir("t-life"))) << "the VM's directory outlived Shutdown";
}

TEST_F(TaskServiceVmTest, AFailedVmStartFailsCreateAndTheNextCreateBootsAfresh) {
  test_util::FakeVmOptions o;
  o.start_error = "qemu-system-x86_64: -machine microvm: unsupported machine type";
  backend_.set_options(o);
  task::CreateTaskRequest req = Bundle("t-retry", {"true"});
  auto r = svc_.Create(req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unsupported machine type"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::Exists(sandbox::VmRunDir("t-retry")));
  backend_.set_options({});
  auto again = svc_.Create(req);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(backend_.vms_made(), 2);
  EXPECT_EQ(StateOf("t-retry").status(), task::CREATED);
}

TEST_F(TaskServiceVmTest, TheVmDyingStopsTheTaskAndRemovesTheVmDirectory) {
  task::CreateTaskRequest req = Bundle("t-crash", {"sleep", "60"});
  auto created = svc_.Create(req);
  ASSERT_TRUE(created.ok()) << created.status().message();
  task::StartRequest start;
  start.set_id("t-crash");
  ASSERT_TRUE(svc_.Start(start).ok());
  ASSERT_EQ(::kill(static_cast<pid_t>(created->pid()), SIGKILL), 0);  // as a crashed QEMU
  task::WaitRequest wait;
  wait.set_id("t-crash");
  auto waited = svc_.Wait(wait);
  ASSERT_TRUE(waited.ok()) << waited.status().message();
  EXPECT_EQ(waited->exit_status(), 255u) << "a task of a dead VM exits 255";
  EXPECT_TRUE(test_util::WaitUntil([] { return !fs::Exists(sandbox::VmRunDir("t-crash")); }, 5s))
      << "the dead VM's directory was not removed";
}

}  // namespace
}  // namespace kata::shim
