// Issue 15: a container rootfs that is a block device, through containerd.
// containerd's devmapper snapshotter needs device-mapper, which this kind of
// host lacks; a proxy snapshotter of ours (block_snapshotter/, each snapshot
// an ext4 image on a loop device) gives the same shape: the task's rootfs is
// one ext4 mount of /dev/loopN. The pod's VM boots with it as a disk, a
// container joining the pod gets its own plugged in; the agent mounts each
// as its container's root, the host never mounts them, what the containers
// write is on their devices afterwards, and nothing is left.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "containerd_env.h"
#include "harness.h"

namespace kata::itest {
namespace {

constexpr const char* kRuntime = "io.containerd.kata.v2";

class BlockRootfsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    std::string sock = tmp_->path() + "/snapshotter.sock";
    snapshotter_ = fork();
    if (snapshotter_ == 0) {
      int log = open((tmp_->path() + "/snapshotter.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(log, 1);
      dup2(log, 2);
      std::string script = RepoDir() + "/tests/integration/block_snapshotter/blk_snapshotter.py";
      std::string dir = tmp_->path() + "/snapshots";
      // Debian's python3 (grpcio, protobuf), not whatever is first on PATH.
      execl("/usr/bin/python3", "python3", script.c_str(), dir.c_str(), sock.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    if (!WaitUntil([&] { return access(sock.c_str(), F_OK) == 0; }, 30s, 100ms)) {
      setup_error_ = "the block snapshotter did not come up: " + Sh("tail -5 " + tmp_->path() + "/snapshotter.log").out;
      return;
    }
    ctd_ = new PrivateContainerd(tmp_->path(),
                                 "[proxy_plugins.blk]\n  type = \"snapshot\"\n  address = \"" + sock + "\"\n");
    std::string why;
    if (!ctd_->Start(&why) || !ctd_->ImportImage(&why, "blk")) setup_error_ = why;
  }
  static void TearDownTestSuite() {
    if (ctd_) {
      ctd_->RemoveAll();
      ctd_->Ctr({"image", "rm", "--sync", PrivateContainerd::kImage}, 60);
      ctd_->Stop();
    }
    delete ctd_;
    ctd_ = nullptr;
    Sh("pkill -9 -f '[c]ontainerd-shim-kata-v2 .*-address " + tmp_->path() + "/' || true");
    if (snapshotter_ > 0) {  // it detaches its loop devices on SIGTERM
      kill(snapshotter_, SIGTERM);
      waitpid(snapshotter_, nullptr, 0);
    }
    delete tmp_;
  }
  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  CmdResult Ctr(const std::vector<std::string>& args) { return ctd_->Ctr(args); }
  void RunDetached(const std::string& id, const std::vector<std::string>& annotations) {
    std::vector<std::string> args = {"run", "-d", "--snapshotter", "blk", "--runtime", kRuntime};
    for (const std::string& a : annotations) args.insert(args.end(), {"--annotation", a});
    args.insert(args.end(), {PrivateContainerd::kImage, id, "sleep", "1000"});
    CmdResult r = Ctr(args);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Sh("tail -5 " + tmp_->path() + "/snapshotter.log").out;
  }
  CmdResult Exec(const std::string& id, const std::string& script) {
    return Ctr({"task", "exec", "--exec-id", "e" + std::to_string(++execs_), id, "sh", "-c", script});
  }
  // The loop device the snapshotter gave container `id` (its log line).
  std::string LoopOf(const std::string& id) {
    std::ifstream in(tmp_->path() + "/snapshotter.log");
    std::regex line("Prepare key='[^']*/" + id + "' .*source='(/dev/loop[0-9]+)'");
    std::smatch m;
    std::string found;
    for (std::string l; std::getline(in, l);) {
      if (std::regex_search(l, m, line)) found = m[1];
    }
    return found;
  }
  void Remove(const std::string& id) {
    Ctr({"task", "kill", "-s", "KILL", id});
    WaitUntil([&] { return Ctr({"task", "rm", id}).exit_code == 0; }, 30s, 200ms);
  }

  static inline TempDir* tmp_ = nullptr;
  static inline PrivateContainerd* ctd_ = nullptr;
  static inline pid_t snapshotter_ = -1;
  static inline std::string setup_error_;
  int execs_ = 0;
};

TEST_F(BlockRootfsTest, PodAndJoiningContainerMountTheirBlockRootfsInTheGuest) {
  std::string pod = UniqueId("blkpod"), app = UniqueId("blkapp");
  RunDetached(pod, {"io.kubernetes.cri.container-type=sandbox", "io.kubernetes.cri.sandbox-id=" + pod});
  RunDetached(app, {"io.kubernetes.cri.container-type=container", "io.kubernetes.cri.sandbox-id=" + pod});
  std::string pod_loop = LoopOf(pod), app_loop = LoopOf(app);
  ASSERT_FALSE(pod_loop.empty());
  ASSERT_FALSE(app_loop.empty());
  // The guest's own mounts of its disks (virtio-blk), not a share; without
  // nosuid (setuid programs of the image work, as under runc).
  for (const std::string& id : {pod, app}) {
    CmdResult root = Exec(id, "grep ' / ' /proc/mounts; echo " + id + " > /written-by-" + id + "; sync");
    EXPECT_EQ(root.exit_code, 0) << root.err;
    EXPECT_TRUE(std::regex_search(root.out, std::regex("^/dev/vd[a-z]+ / ext4 rw"))) << id << ": " << root.out;
    EXPECT_EQ(root.out.find("nosuid"), std::string::npos) << root.out;
  }
  EXPECT_NE(Exec(app, "cat /written-by-" + pod).exit_code, 0) << "the two containers share a root";
  // The host never mounted either device (the guest's file system is not the host's to read).
  std::string host_mounts = Sh("cat /proc/self/mountinfo").out;
  EXPECT_EQ(host_mounts.find(pod_loop + " "), std::string::npos) << host_mounts;
  EXPECT_EQ(host_mounts.find(app_loop + " "), std::string::npos);
  // The app goes first: its disk leaves the running pod, with its write on it.
  Remove(app);
  EXPECT_EQ(Trim(Sh("debugfs -R 'cat /written-by-" + app + "' " + app_loop + " 2>/dev/null").out), app);
  EXPECT_EQ(Trim(Exec(pod, "cat /written-by-" + pod).out), pod) << "the pod lost its root with the app";
  Remove(pod);
  EXPECT_EQ(LeaksAfter(pod, 15), "");
  EXPECT_EQ(Trim(Sh("debugfs -R 'cat /written-by-" + pod + "' " + pod_loop + " 2>/dev/null").out), pod);
  Ctr({"container", "rm", app});
  Ctr({"container", "rm", pod});
}

}  // namespace
}  // namespace kata::itest
