// The guest-memory upper layer of a container rootfs (rootfs_writes_in_guest),
// on the host in this test's own mount namespace: writes land in the upper
// layer, the shared image is never written, and removal leaves nothing.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "private_mounts.h"
#include "agent/guest_rootfs.h"
#include "common/fs.h"
#include "common/fs_at.h"

namespace kata {
namespace {

class GuestRootfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (mounts)";
    ASSERT_TRUE(test_util::EnterPrivateMountNamespace());
    dir_ = test_util::MakeTempDir("kata-rootfs-upper");
    ASSERT_FALSE(dir_.empty());
    lower_ = dir_ + "/shared/c1/rootfs";
    base_ = dir_ + "/upper";
    ASSERT_TRUE(fs::MkdirAll(lower_ + "/etc", 0755).ok());
    ASSERT_TRUE(fs::WriteFileAtomic(lower_ + "/etc/image-file", "from the image\n").ok());
    ASSERT_EQ(chmod(lower_.c_str(), 0751), 0);
  }
  void TearDown() override {
    if (!dir_.empty()) (void)fs::RemoveTreeNoFollow(dir_);
  }
  std::string dir_, lower_, base_;
};

TEST_F(GuestRootfsTest, WritesStayInTheUpperLayerAndTheImageIsUntouched) {
  auto merged = agent::MountGuestUpper("c1", {lower_}, base_);
  ASSERT_TRUE(merged.ok()) << merged.status().message();
  EXPECT_EQ(*merged, base_ + "/c1/merged");
  EXPECT_EQ(*fs::ReadFile(*merged + "/etc/image-file"), "from the image\n");
  struct stat root{};
  ASSERT_EQ(stat(merged->c_str(), &root), 0);
  EXPECT_EQ(root.st_mode & 07777, 0751u) << "the merged root looks like the image's";
  ASSERT_TRUE(fs::WriteFileAtomic(*merged + "/new-file", "written in the guest").ok());
  ASSERT_EQ(unlink((*merged + "/etc/image-file").c_str()), 0);
  EXPECT_FALSE(fs::Exists(lower_ + "/new-file")) << "a write reached the shared image";
  EXPECT_TRUE(fs::Exists(lower_ + "/etc/image-file")) << "a removal reached the shared image";
  EXPECT_TRUE(fs::Exists(base_ + "/c1/upper/new-file"));
  agent::UnmountGuestUpper("c1", base_);
  EXPECT_FALSE(fs::Exists(base_ + "/c1"));
  EXPECT_FALSE(fs::IsMountPoint(base_ + "/c1"));
  agent::UnmountGuestUpper("c1", base_);  // again: nothing to do
}

// rootfs_image_in_guest: the host's upper directory (shared) above the
// image disk; the first lower's root gives the merged root's mode.
TEST_F(GuestRootfsTest, TheUpperDirectoryStacksAboveTheImageLayer) {
  std::string image = dir_ + "/storage/c4/kata-root-0";
  ASSERT_TRUE(fs::MkdirAll(image + "/usr/bin", 0755).ok());
  ASSERT_TRUE(fs::WriteFileAtomic(image + "/usr/bin/tool", "image\n").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(image + "/etc-shadowed", "image\n").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(lower_ + "/etc-shadowed", "upper dir\n").ok());
  auto merged = agent::MountGuestUpper("c4", {lower_, image}, base_);
  ASSERT_TRUE(merged.ok()) << merged.status().message();
  EXPECT_EQ(*fs::ReadFile(*merged + "/usr/bin/tool"), "image\n");
  EXPECT_EQ(*fs::ReadFile(*merged + "/etc-shadowed"), "upper dir\n");
  EXPECT_EQ(*fs::ReadFile(*merged + "/etc/image-file"), "from the image\n");
  struct stat root{};
  ASSERT_EQ(stat(merged->c_str(), &root), 0);
  EXPECT_EQ(root.st_mode & 07777, 0751u);
  ASSERT_TRUE(fs::WriteFileAtomic(*merged + "/usr/bin/new", "x").ok());
  EXPECT_FALSE(fs::Exists(image + "/usr/bin/new"));
  agent::UnmountGuestUpper("c4", base_);
  EXPECT_FALSE(fs::Exists(base_ + "/c4"));
}

TEST_F(GuestRootfsTest, BadLowerLayersAreRefusedAndLeaveNothing) {
  auto missing = agent::MountGuestUpper("c2", {dir_ + "/nope"}, base_);
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(dir_ + "/nope"), std::string::npos) << missing.status().message();
  EXPECT_FALSE(fs::Exists(base_ + "/c2"));
  auto comma = agent::MountGuestUpper("c3", {dir_ + "/a,upperdir=/etc"}, base_);
  EXPECT_EQ(comma.status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(fs::Exists(base_ + "/c3"));
  auto second_missing = agent::MountGuestUpper("c5", {lower_, dir_ + "/no-image"}, base_);
  EXPECT_NE(second_missing.status().message().find(dir_ + "/no-image"), std::string::npos);
  EXPECT_FALSE(fs::Exists(base_ + "/c5"));
}

}  // namespace
}  // namespace kata
