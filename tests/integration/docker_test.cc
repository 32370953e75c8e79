// Docker (dockerd 20.10 and its containerd-shim-runc-v2) running containers
// through kata-runtime as a configured runtime: `docker run --runtime kata`.
// The test starts a private dockerd; the image is imported from a local
// busybox rootfs.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "docker_env.h"
#include "harness.h"

namespace kata::itest {
namespace {

class DockerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    dockerd_ = new PrivateDockerd(tmp_->path());
    std::string why;
    ASSERT_TRUE(dockerd_->Start(&why)) << why;
  }
  static void TearDownTestSuite() {
    Docker({"rm", "-f", "dk-detached"});
    delete dockerd_;  // stops dockerd and its containerd
    delete tmp_;
  }
  static CmdResult Docker(std::vector<std::string> args) { return dockerd_->Docker(std::move(args)); }
  static inline TempDir* tmp_ = nullptr;
  static inline PrivateDockerd* dockerd_ = nullptr;
};

TEST_F(DockerTest, RunRmPrintsTheGuestKernelAndExitCodes) {
  CmdResult r = Docker({"run", "--rm", "--runtime", "kata", "kata-it-busybox", "uname", "-r"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Trim(r.out), GuestKernelRelease());
  EXPECT_EQ(Docker({"run", "--rm", "--runtime", "kata", "kata-it-busybox", "sh", "-c", "exit 3"}).exit_code, 3);
}

TEST_F(DockerTest, TerminalContainer) {
  CmdResult r = Docker({"run", "--rm", "-t", "--runtime", "kata", "kata-it-busybox", "tty"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("/dev/pts/"), std::string::npos) << r.out;
}

TEST_F(DockerTest, DetachedExecLogsPauseStop) {
  const std::string name = "dk-detached";
  ASSERT_EQ(Docker({"run", "-d", "--runtime", "kata", "--name", name, "kata-it-busybox", "sh", "-c", "echo started; sleep 600"})
                .exit_code,
            0);
  CmdResult e = Docker({"exec", name, "sh", "-c", "echo exec-out; exit 5"});
  EXPECT_EQ(e.exit_code, 5) << e.err;
  EXPECT_EQ(Trim(e.out), "exec-out");
  EXPECT_NE(Docker({"exec", "-t", name, "tty"}).out.find("/dev/pts/"), std::string::npos);
  EXPECT_EQ(Trim(Docker({"logs", name}).out), "started");
  EXPECT_EQ(Docker({"pause", name}).exit_code, 0);
  EXPECT_EQ(Trim(Docker({"inspect", "-f", "{{.State.Status}}", name}).out), "paused");
  EXPECT_EQ(Docker({"unpause", name}).exit_code, 0);
  EXPECT_EQ(Docker({"stop", "-t", "1", name}).exit_code, 0);
  EXPECT_EQ(Trim(Docker({"inspect", "-f", "{{.State.ExitCode}}", name}).out), "137");
  std::string id = Trim(Docker({"inspect", "-f", "{{.Id}}", name}).out);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(Docker({"rm", name}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

// Docker's networking hook moves the veth into the VMM's network namespace
// (the hook state's pid is the VMM's); the sandbox then mirrors it to the VM.
TEST_F(DockerTest, NetworkReachesTheGuest) {
  const std::string name = "dk-net";
  ASSERT_EQ(Docker({"run", "-d", "--runtime", "kata", "--name", name, "-p", "127.0.0.1:18081:8080", "kata-it-busybox",
                    "sh", "-c", ServeHttpCommand("uname -r", 8080)})
                .exit_code,
            0);
  std::string ip = Trim(Docker({"inspect", "-f", "{{.NetworkSettings.IPAddress}}", name}).out);
  ASSERT_FALSE(ip.empty());
  EXPECT_EQ(HttpGet("http://" + ip + ":8080/", 30), GuestKernelRelease()) << "container address " << ip;
  EXPECT_EQ(HttpGet("http://127.0.0.1:18081/", 10), GuestKernelRelease()) << "published port";
  EXPECT_EQ(Docker({"rm", "-f", name}).exit_code, 0);
}

}  // namespace
}  // namespace kata::itest
