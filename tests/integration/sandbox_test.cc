// The sandbox layer against one real VM shared by every case: agent health,
// several containers in the same guest, exit codes, signals, stdio.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "harness.h"
#include "shared_vm.h"
#include "health.pb.h"
#include "sandbox/container.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_config.h"

namespace kata::itest {
namespace {

class SandboxTest : public SharedVmTest {
 protected:
  static void SetUpTestSuite() { BootSharedVm("sb"); }
  static void TearDownTestSuite() { ShutDownSharedVm(); }
};

TEST_F(SandboxTest, AgentAnswersHealthCheck) {
  EXPECT_TRUE(sandbox_->vm_running());
  EXPECT_GT(sandbox_->boot_times().agent_ready_ms, 0);
  std::printf("VMM start %.0f ms, agent ready %.0f ms after VMM start\n", sandbox_->boot_times().vmm_start_ms,
              sandbox_->boot_times().agent_ready_ms);
}

TEST_F(SandboxTest, ContainerSeesItsOwnNamespacesAndSpec) {
  auto c = NewContainer("ns", {"sh", "-c", "echo pid=$$ host=$(hostname) cwd=$(pwd) uid=$(id -u); uname -r"});
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->state(), sandbox::ContainerState::kCreated);
  ASSERT_TRUE(c->Start().ok());
  EXPECT_EQ(c->init().Wait().status, 0);
  std::string out = Output("ns");
  EXPECT_NE(out.find("pid=1 host=kata cwd=/ uid=0"), std::string::npos) << out;
  EXPECT_NE(out.find(GuestKernelRelease()), std::string::npos) << out;
  EXPECT_TRUE(c->Delete(false).ok());
}

TEST_F(SandboxTest, ExitCodesAndStderr) {
  auto c = NewContainer("exit7", {"sh", "-c", "echo oops >&2; exit 7"});
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Start().ok());
  EXPECT_EQ(c->init().Wait().status, 7);
  EXPECT_EQ(Trim(Output("exit7", "stderr")), "oops");
  EXPECT_EQ(c->state(), sandbox::ContainerState::kStopped);
}

TEST_F(SandboxTest, TwoContainersShareTheVmAndKillReportsTheSignal) {
  auto a = NewContainer("sleeper", {"sleep", "600"});
  auto b = NewContainer("bootid", {"cat", "/proc/sys/kernel/random/boot_id"});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(a->Start().ok());
  ASSERT_TRUE(b->Start().ok());
  EXPECT_EQ(b->init().Wait().status, 0);
  EXPECT_EQ(a->state(), sandbox::ContainerState::kRunning);
  ASSERT_TRUE(a->Kill("", 9, false).ok());
  EXPECT_EQ(a->init().Wait().status, 128 + 9);
  EXPECT_FALSE(Trim(Output("bootid")).empty());
  EXPECT_TRUE(a->Delete(false).ok());
  EXPECT_TRUE(b->Delete(false).ok());
}

// containerd writes stdin into the fifo, then sends CloseIO at once (ctr run
// with piped input): the guest must still read every byte before its EOF.
TEST_F(SandboxTest, StdinWrittenBeforeCloseIoReachesTheProcess) {
  std::string fifo = tmp_->path() + "/stdin-fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto c = NewContainer("stdin", {"sh", "-c", "read line; echo got:$line"}, nullptr, fifo);
  ASSERT_NE(c, nullptr);
  int writer = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(writer, 0);
  ASSERT_EQ(write(writer, "hello\n", 6), 6);
  // The writer stays open: the close must not wait for an EOF on the fifo.
  ASSERT_TRUE(c->init().CloseStdin().ok());
  ASSERT_TRUE(c->Start().ok());
  EXPECT_EQ(c->init().Wait().status, 0);
  EXPECT_EQ(Trim(Output("stdin")), "got:hello");
  close(writer);
  EXPECT_TRUE(c->Delete(false).ok());
}

TEST_F(SandboxTest, DeleteOfARunningContainerNeedsForce) {
  auto c = NewContainer("busy", {"sleep", "600"});
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Start().ok());
  Status st = c->Delete(false);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not stopped"), std::string::npos) << st.message();
  EXPECT_TRUE(c->Delete(true).ok());
  EXPECT_EQ(c->init().Wait().status, 128 + 9);
}

TEST_F(SandboxTest, BadCommandIsReportedAtCreate) {
  std::string bundle = tmp_->path() + "/nocmd";
  MakeBundle(bundle, {"/no/such/binary"});
  std::ifstream in(bundle + "/config.json");
  auto c = sandbox::Container::Create(*sandbox_, "nocmd", bundle, nlohmann::json::parse(in), {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("/no/such/binary"), std::string::npos) << c.status().message();
}

TEST_F(SandboxTest, HostHooksGetTheStateAndAFailingHookFailsCreate) {
  std::string bundle = tmp_->path() + "/hooked";
  MakeBundle(bundle, {"true"});
  std::ifstream in(bundle + "/config.json");
  nlohmann::json spec = nlohmann::json::parse(in);
  auto hook = [&](const std::string& name) {
    return nlohmann::json{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat > " + bundle + "/" + name + ".json"}}};
  };
  spec["hooks"] = {{"prestart", {hook("prestart")}}, {"createRuntime", {hook("createRuntime")}},
                   {"createContainer", {hook("createContainer")}},
                   {"poststart", {hook("poststart")}}, {"poststop", {hook("poststop")}}};
  spec["annotations"] = {{"org.example.hooked", "yes"}};
  // createContainer runs in the VMM's network namespace: its inode is noted.
  spec["hooks"]["createContainer"].push_back(
      {{"path", "/bin/sh"}, {"args", {"sh", "-c", "stat -L -c %i /proc/self/ns/net > " + bundle + "/netns"}}});
  auto c = sandbox::Container::Create(*sandbox_, "hooked", bundle, spec, {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE((*c)->Start().ok());
  (*c)->init().Wait();
  ASSERT_TRUE((*c)->Delete(false).ok());
  for (const char* kind : {"prestart", "createRuntime", "createContainer", "poststart", "poststop"}) {
    std::ifstream f(bundle + "/" + kind + ".json");
    ASSERT_TRUE(f.good()) << kind << " hook did not run";
    nlohmann::json state = nlohmann::json::parse(f);
    EXPECT_EQ(state["id"], "hooked") << kind;
    EXPECT_EQ(state["bundle"], bundle) << kind;
    EXPECT_EQ(state["annotations"]["org.example.hooked"], "yes") << kind << ": the OCI state carries the spec's annotations";
  }

  struct stat vmm_ns {};
  ASSERT_EQ(stat(("/proc/" + std::to_string(sandbox_->vmm_pid()) + "/ns/net").c_str(), &vmm_ns), 0);
  std::ifstream ns(bundle + "/netns");
  ino_t hook_ns = 0;
  ns >> hook_ns;
  EXPECT_EQ(hook_ns, vmm_ns.st_ino) << "createContainer hooks run in the VMM's network namespace";

  spec["hooks"] = {{"createRuntime", {{{"path", "/bin/false"}}}}};
  auto bad = sandbox::Container::Create(*sandbox_, "hooked2", bundle, spec, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("createRuntime hook /bin/false"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace kata::itest
