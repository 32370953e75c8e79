// The agent's RPC handlers called directly, in host mode (guest = false, no
// cgroups): their answers to what does not exist or cannot be, and one
// container's life. Containers need root; the rest runs as anyone.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "agent/agent_service.h"
#include "agent/reaper.h"
#include "fake_hypervisor.h"

namespace kata::agent {
namespace {

const auto* const kPrivateHostPaths = ::testing::AddGlobalTestEnvironment(new test_util::PrivateHostPaths);

AgentOptions HostMode() {
  AgentOptions o;
  o.guest = false;
  o.cgroup_root = "";
  return o;
}

// The error names the id it was asked about, as NotFound.
template <typename T>
void ExpectUnknownContainer(const Result<T>& r, const std::string& id) {
  ASSERT_FALSE(r.ok()) << "an unknown container was accepted";
  EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().message();
  EXPECT_NE(r.status().message().find("container " + id + " does not exist"), std::string::npos)
      << r.status().message();
}

TEST(AgentServiceErrors, EveryCallOnAnUnknownContainerIsNotFoundNamingIt) {
  AgentService agent(HostMode());
  const std::string id = "no-such-container";
  grpc::StartContainerRequest start;
  start.set_container_id(id);
  ExpectUnknownContainer(agent.StartContainer(start), id);
  grpc::SignalProcessRequest sig;
  sig.set_container_id(id);
  sig.set_signal(SIGKILL);
  ExpectUnknownContainer(agent.SignalProcess(sig), id);
  grpc::WaitProcessRequest wait;
  wait.set_container_id(id);
  ExpectUnknownContainer(agent.WaitProcess(wait), id);
  grpc::RemoveContainerRequest remove;
  remove.set_container_id(id);
  ExpectUnknownContainer(agent.RemoveContainer(remove), id);
  grpc::ExecProcessRequest exec;
  exec.set_container_id(id);
  exec.set_exec_id("e1");
  exec.set_process_json(R"({"args":["true"],"cwd":"/"})");
  ExpectUnknownContainer(agent.ExecProcess(exec), id);
  grpc::ReadStreamRequest read;
  read.set_container_id(id);
  ExpectUnknownContainer(agent.ReadStdout(read), id);
  grpc::PauseContainerRequest pause;
  pause.set_container_id(id);
  ExpectUnknownContainer(agent.PauseContainer(pause), id);
}

TEST(AgentServiceErrors, ASpecThatIsNotJsonIsRefusedAndNothingIsCreated) {
  AgentService agent(HostMode());
  grpc::CreateContainerRequest req;
  req.set_container_id("c1");
  req.set_spec_json("{\"ociVersion\": ");
  auto r = agent.CreateContainer(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().message();
  grpc::StartContainerRequest start;
  start.set_container_id("c1");
  ExpectUnknownContainer(agent.StartContainer(start), "c1");
}

TEST(AgentServiceErrors, ASpecWithoutAProcessIsRefusedNamingTheContainer) {
  AgentService agent(HostMode());
  nlohmann::json spec = test_util::ContainerSpec("/nonexistent", {"true"});
  spec.erase("process");
  grpc::CreateContainerRequest req;
  req.set_container_id("c1");
  req.set_spec_json(spec.dump());
  auto r = agent.CreateContainer(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("create container c1: the spec has no process"), std::string::npos)
      << r.status().message();
}

TEST(AgentServiceErrors, GuestDetailsOfAHostAgent) {
  AgentOptions o = HostMode();
  o.started_boottime_ns = 42;
  AgentService agent(o);
  agent.MarkReady();
  auto d = agent.GetGuestDetails(grpc::GuestDetailsRequest());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->agent_version(), KATA_VERSION);
  EXPECT_FALSE(d->init_daemon()) << "a host agent is not PID 1";
  EXPECT_EQ(d->agent_start_boottime_ns(), 42);
  EXPECT_GT(d->agent_ready_boottime_ns(), 42);
}

// One real container from a busybox rootfs, launched by the agent on this
// host; its processes are reaped by the agent's reaper, as in a guest.
class AgentContainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    Status st = test_util::WriteBusyboxRootfs("/tmp/agent-test");
    ASSERT_TRUE(st.ok()) << st.message();
    Reaper::Get().Start();
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, mounts)";
  }

  Result<Empty> Create(const std::string& id, const std::vector<std::string>& args) {
    grpc::CreateContainerRequest req;
    req.set_container_id(id);
    req.set_spec_json(test_util::ContainerSpec("/tmp/agent-test/rootfs", args).dump());
    return agent_.CreateContainer(req);
  }

  std::string ReadAllStdout(const std::string& id) {
    grpc::ReadStreamRequest req;
    req.set_container_id(id);
    req.set_len(4096);
    std::string out;
    for (auto r = agent_.ReadStdout(req); r.ok() && !r->data().empty(); r = agent_.ReadStdout(req)) out += r->data();
    return out;
  }

  AgentService agent_{HostMode()};
};

TEST_F(AgentContainerTest, CreateStartWaitRemove) {
  ASSERT_TRUE(Create("c1", {"sh", "-c", "echo hello; exit 3"}).ok());
  auto again = Create("c1", {"true"});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists) << again.status().message();
  grpc::StartContainerRequest start;
  start.set_container_id("c1");
  auto started = agent_.StartContainer(start);
  ASSERT_TRUE(started.ok()) << started.status().message();
  EXPECT_EQ(ReadAllStdout("c1"), "hello\n");
  grpc::WaitProcessRequest wait;
  wait.set_container_id("c1");
  auto w = agent_.WaitProcess(wait);
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->status(), 3);
  auto twice = agent_.StartContainer(start);
  EXPECT_EQ(twice.status().code(), Code::kFailedPrecondition) << "started twice";
  grpc::SignalProcessRequest sig;
  sig.set_container_id("c1");
  sig.set_signal(SIGTERM);
  auto late = agent_.SignalProcess(sig);
  EXPECT_EQ(late.status().code(), Code::kNotFound) << "signalled a process that had exited";
  grpc::RemoveContainerRequest remove;
  remove.set_container_id("c1");
  ASSERT_TRUE(agent_.RemoveContainer(remove).ok());
  ExpectUnknownContainer(agent_.StartContainer(start), "c1");
}

TEST_F(AgentContainerTest, ARootfsThatDoesNotExistFailsCreateAndNothingIsLeft) {
  grpc::CreateContainerRequest req;
  req.set_container_id("c2");
  req.set_spec_json(test_util::ContainerSpec("/tmp/agent-test/missing", {"true"}).dump());
  auto r = agent_.CreateContainer(req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("create container c2"), std::string::npos) << r.status().message();
  grpc::StartContainerRequest start;
  start.set_container_id("c2");
  ExpectUnknownContainer(agent_.StartContainer(start), "c2");
}

}  // namespace
}  // namespace kata::agent
