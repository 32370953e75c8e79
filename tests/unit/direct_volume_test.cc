// Direct volumes' stats and resize without a VM: the agent's side on a real
// ext4 disk (a loop device, mounted in this test's own mount namespace),
// grown online as the VMM's block_resize would make the guest see it; and
// the host's record of which sandbox mounts a volume.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "private_mounts.h"
#include "agent/guest_volumes.h"
#include "common/fs.h"
#include "common/fs_at.h"
#include "sandbox/direct_volume.h"

namespace kata {
namespace {

std::string Sh(const std::string& cmd) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  char buf[256];
  while (p && fgets(buf, sizeof buf, p.get()) != nullptr) out += buf;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// ext4's online resize needs CAP_SYS_RESOURCE (the agent, the guest's
// init, has it; some CI hosts' root does not).
bool CanResizeFileSystems() {
  std::string status = Sh("grep CapEff /proc/self/status");
  unsigned long long caps = std::stoull(status.substr(status.find_last_of("\t ") + 1), nullptr, 16);
  return caps & (1ULL << 24);  // CAP_SYS_RESOURCE
}

uint64_t TotalBytes(const std::string& path) {
  struct statvfs s{};
  if (statvfs(path.c_str(), &s) != 0) return 0;
  return uint64_t(s.f_blocks) * s.f_frsize;
}

// An ext4 (or xfs) image on a loop device, mounted where the agent mounts
// volumes (<storage>/<container>/<serial>), in a mount namespace of the
// test's own.
class GuestVolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (loop devices, mounts)";
    ASSERT_TRUE(test_util::EnterPrivateMountNamespace());
    dir_ = test_util::MakeTempDir("kata-dvol-test");
    ASSERT_FALSE(dir_.empty());
    storage_ = dir_ + "/storage";
    path_ = storage_ + "/c1/kata-vol-0";
    img_ = dir_ + "/disk.img";
    ASSERT_TRUE(fs::MkdirAll(path_, 0755).ok());
    MakeDisk("ext4", "16M");
  }
  void MakeDisk(const std::string& fstype, const std::string& size) {
    if (!loop_.empty()) TearDownDisk();
    std::string mkfs = fstype == "xfs" ? "mkfs.xfs -q -f " : "mkfs.ext4 -q ";
    ASSERT_EQ(Sh("rm -f " + img_ + " && truncate -s " + size + " " + img_ + " && " + mkfs + img_ + " && echo ok"), "ok");
    loop_ = Sh("losetup --find --show " + img_);
    ASSERT_EQ(loop_.rfind("/dev/loop", 0), 0u) << loop_;
    ASSERT_EQ(mount(loop_.c_str(), path_.c_str(), fstype.c_str(), 0, nullptr), 0);
  }
  void TearDownDisk() {
    umount2(path_.c_str(), MNT_DETACH);
    Sh("losetup -d " + loop_);
    loop_.clear();
  }
  void TearDown() override {
    if (!loop_.empty()) TearDownDisk();
    if (!dir_.empty()) (void)fs::RemoveTreeNoFollow(dir_);
  }
  // What the VMM's block_resize does to an image file, and the guest then sees.
  void GrowDisk(const std::string& size) {
    ASSERT_EQ(Sh("truncate -s " + size + " " + img_ + " && losetup -c " + loop_ + " && echo ok"), "ok");
  }
  std::string dir_, storage_, path_, img_, loop_;
};

// xfs's growfs needs CAP_SYS_ADMIN only: it runs on every host.
TEST_F(GuestVolumeTest, GrowsXfsOnlineAndRefusesToShrinkIt) {
  ASSERT_NO_FATAL_FAILURE(MakeDisk("xfs", "320M"));  // mkfs.xfs's smallest is 300 MB
  uint64_t before = TotalBytes(path_);
  ASSERT_NO_FATAL_FAILURE(GrowDisk("400M"));
  Status st = agent::GrowVolume(path_, 400u << 20);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_GT(TotalBytes(path_), before + (60u << 20)) << before << " -> " << TotalBytes(path_);
  EXPECT_TRUE(agent::GrowVolume(path_, 400u << 20).ok()) << "the same size again is a no-op";
  Status shrink = agent::GrowVolume(path_, 320u << 20);
  EXPECT_EQ(shrink.code(), Code::kInvalidArgument);
  EXPECT_NE(shrink.message().find("xfs volumes only grow"), std::string::npos) << shrink.message();
}

TEST_F(GuestVolumeTest, UsageIsTheFileSystemsOwn) {
  ASSERT_TRUE(agent::CheckVolumePath(path_, storage_).ok());
  auto f = agent::VolumeUsage(path_);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_GT(f->bytes_total, 10u << 20);
  EXPECT_LE(f->bytes_total, 16u << 20);
  EXPECT_LE(f->bytes_available, f->bytes_total);
  EXPECT_GT(f->inodes_total, 0u);
  EXPECT_GT(f->inodes_used, 0u);  // the root directory, lost+found
}

TEST_F(GuestVolumeTest, GrowsOnlineToFillTheLargerDisk) {
  if (!CanResizeFileSystems()) GTEST_SKIP() << "no CAP_SYS_RESOURCE here (StorageTest grows one in a guest)";
  uint64_t before = TotalBytes(path_);
  ASSERT_NO_FATAL_FAILURE(GrowDisk("48M"));
  Status st = agent::GrowVolume(path_, 48u << 20);
  ASSERT_TRUE(st.ok()) << st.message();
  uint64_t after = TotalBytes(path_);
  EXPECT_GT(after, before + (30u << 20)) << before << " -> " << after;
  EXPECT_TRUE(agent::GrowVolume(path_, 48u << 20).ok()) << "the same size again is a no-op";
}

TEST_F(GuestVolumeTest, RefusesToShrink) {
  if (!CanResizeFileSystems()) GTEST_SKIP() << "no CAP_SYS_RESOURCE here (StorageTest tries in a guest)";
  Status shrink = agent::GrowVolume(path_, 8u << 20);
  EXPECT_EQ(shrink.code(), Code::kInvalidArgument);
  EXPECT_NE(shrink.message().find("only grow"), std::string::npos) << shrink.message();
  EXPECT_LE(TotalBytes(path_), 16u << 20);
}

TEST_F(GuestVolumeTest, WaitsForTheDiskAndSaysWhenItIsTooSmall) {
  Status big = agent::GrowVolume(path_, 64u << 20, "/sys/dev/block", 100);
  EXPECT_NE(big.message().find("grow the disk first"), std::string::npos) << big.message();
  EXPECT_LE(TotalBytes(path_), 16u << 20);
}

TEST_F(GuestVolumeTest, PathsOutsideTheStorageOrNotMountedAreRefused) {
  EXPECT_EQ(agent::CheckVolumePath("/etc", storage_).code(), Code::kInvalidArgument);
  EXPECT_EQ(agent::CheckVolumePath(storage_ + "/c1/../../x", storage_).code(), Code::kInvalidArgument);
  EXPECT_EQ(agent::CheckVolumePath(storage_, storage_).code(), Code::kInvalidArgument);
  EXPECT_EQ(agent::CheckVolumePath(storage_ + "/c1", storage_).code(), Code::kInvalidArgument);  // a container's directory
  EXPECT_EQ(agent::CheckVolumePath(storage_ + "/c1/./x", storage_).code(), Code::kInvalidArgument);
  EXPECT_EQ(agent::CheckVolumePath(storage_ + "/c1/kata-vol-9", storage_).code(), Code::kNotFound);  // nothing mounted
  ASSERT_TRUE(fs::MkdirAll(dir_ + "/t", 0755).ok());
  ASSERT_EQ(mount("tmpfs", (dir_ + "/t").c_str(), "tmpfs", 0, "size=1m"), 0);
  Status tmpfs = agent::GrowVolume(dir_ + "/t", 2u << 20);
  EXPECT_EQ(tmpfs.code(), Code::kUnimplemented);
  EXPECT_NE(tmpfs.message().find("only ext4 and xfs"), std::string::npos) << tmpfs.message();
  umount2((dir_ + "/t").c_str(), MNT_DETACH);
}

class VolumeUsersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-dvol-users.XXXXXX";
    root_ = mkdtemp(tmpl);
    img_ = root_ + "/disk.img";
    ASSERT_EQ(Sh("truncate -s 1M " + img_ + " && echo ok"), "ok");
    ASSERT_TRUE(sandbox::AddDirectVolume("/vol/a", R"({"device": ")" + img_ + R"(", "fs_type": "ext4"})", root_).ok());
  }
  void TearDown() override { (void)fs::RemoveTreeNoFollow(root_); }
  std::string root_, img_;
};

TEST_F(VolumeUsersTest, StatsOfAVolumeNobodyMountsSaySo) {
  auto st = sandbox::DirectVolumeStats("/vol/a", root_);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("is not mounted by any running sandbox"), std::string::npos)
      << st.status().message();
  auto unknown = sandbox::DirectVolumeStats("/vol/b", root_);
  EXPECT_NE(unknown.status().message().find("no direct volume is registered for /vol/b"), std::string::npos);
  EXPECT_EQ(sandbox::ResizeDirectVolume("/vol/a", 0, root_).code(), Code::kInvalidArgument);
}

TEST_F(VolumeUsersTest, UsersAreRecordedByIdAndForgotten) {
  ASSERT_TRUE(sandbox::RecordVolumeUser("/vol/a", "sb1", root_ + "/gone.sock", root_).ok());
  auto eps = sandbox::VolumeUserEndpoints("/vol/a", root_);
  ASSERT_TRUE(eps.ok());
  EXPECT_EQ(*eps, std::vector<std::string>{root_ + "/gone.sock"});
  // Its socket answers nobody: as if the sandbox was killed.
  auto st = sandbox::DirectVolumeStats("/vol/a", root_);
  EXPECT_NE(st.status().message().find("is not mounted by any running sandbox"), std::string::npos);
  EXPECT_FALSE(sandbox::RecordVolumeUser("/vol/a", "mountInfo.json", "x", root_).ok());
  EXPECT_FALSE(sandbox::RecordVolumeUser("/vol/a", "../x", "x", root_).ok());
  sandbox::ForgetVolumeUser("/vol/a", "sb1", root_);
  EXPECT_TRUE(sandbox::VolumeUserEndpoints("/vol/a", root_)->empty());
  EXPECT_TRUE(fs::Exists(sandbox::DirectVolumeDir("/vol/a", root_) + "/mountInfo.json"));
}

TEST(VolumeStatsJson, IsKatasShape) {
  grpc::VolumeStatsResponse r;
  grpc::VolumeUsage* u = r.add_usage();
  u->set_unit(grpc::VolumeUsage::BYTES);
  u->set_total(100);
  u->set_available(60);
  u->set_used(40);
  r.mutable_volume_condition()->set_message("mounted");
  EXPECT_EQ(sandbox::VolumeStatsJson(r),
            R"({"usage":[{"available":60,"total":100,"unit":1,"used":40}],"volume_condition":{"abnormal":false,"message":"mounted"}})");
}

}  // namespace
}  // namespace kata
