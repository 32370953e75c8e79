// fd-relative file work (common/fs_at.h): nothing a writer of the tree
// plants (symlinks, mounts) is followed or crossed.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "common/fs_at.h"

namespace kata::fs {
namespace {

class FsAtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-fsat-test.XXXXXX";
    base_ = mkdtemp(tmpl);
    ASSERT_TRUE(MkdirAll(base_ + "/outside", 0755).ok());
    ASSERT_TRUE(WriteFileAtomic(base_ + "/outside/keep", "keep").ok());
  }
  void TearDown() override { (void)RemoveTreeNoFollow(base_); }
  std::string base_;
};

TEST_F(FsAtTest, RemoveTreeRemovesLinksNotTheirTargets) {
  std::string tree = base_ + "/tree";
  ASSERT_TRUE(MkdirAll(tree + "/a/b", 0755).ok());
  ASSERT_TRUE(WriteFileAtomic(tree + "/a/b/f", "x").ok());
  ASSERT_EQ(symlink((base_ + "/outside").c_str(), (tree + "/a/link").c_str()), 0);
  ASSERT_EQ(symlink((base_ + "/outside/keep").c_str(), (tree + "/filelink").c_str()), 0);
  ASSERT_TRUE(RemoveTreeNoFollow(tree).ok());
  EXPECT_FALSE(Exists(tree));
  EXPECT_EQ(*ReadFile(base_ + "/outside/keep"), "keep");
}

TEST_F(FsAtTest, RemoveTreeRefusesAMountInTheWay) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  std::string tree = base_ + "/tree";
  ASSERT_TRUE(MkdirAll(tree + "/m", 0755).ok());
  // A bind of a directory of the same file system: same st_dev.
  ASSERT_EQ(mount((base_ + "/outside").c_str(), (tree + "/m").c_str(), nullptr, MS_BIND, nullptr), 0);
  Status st = RemoveTreeNoFollow(tree);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("mount point"), std::string::npos) << st.message();
  EXPECT_EQ(*ReadFile(base_ + "/outside/keep"), "keep");
  umount2((tree + "/m").c_str(), MNT_DETACH);
}

TEST_F(FsAtTest, MkdirsBelowRefusesASymlinkOnTheWay) {
  auto root = OpenDirNoSymlinks(base_);
  ASSERT_TRUE(root.ok()) << root.status().message();
  ASSERT_EQ(symlink((base_ + "/outside").c_str(), (base_ + "/link").c_str()), 0);
  EXPECT_FALSE(MkdirsBelow(root->get(), "link/made", 0755).ok());
  EXPECT_FALSE(Exists(base_ + "/outside/made"));
  auto made = MkdirsBelow(root->get(), "d1/d2", 0755);
  EXPECT_TRUE(made.ok()) << made.status().message();
  EXPECT_TRUE(Exists(base_ + "/d1/d2"));
  EXPECT_FALSE(MkdirsBelow(root->get(), "d1/../../escape", 0755).ok());
}

TEST_F(FsAtTest, OpenDirRefusesASymlinkInThePath) {
  ASSERT_EQ(symlink((base_ + "/outside").c_str(), (base_ + "/link").c_str()), 0);
  EXPECT_FALSE(OpenDirNoSymlinks(base_ + "/link").ok());
  EXPECT_TRUE(OpenDirNoSymlinks(base_ + "/outside").ok());
}

TEST_F(FsAtTest, MakeFileInRefusesALink) {
  auto root = OpenDirNoSymlinks(base_);
  ASSERT_TRUE(root.ok());
  ASSERT_EQ(symlink((base_ + "/outside/new").c_str(), (base_ + "/f").c_str()), 0);
  EXPECT_FALSE(MakeFileIn(root->get(), "f", 0644).ok());
  EXPECT_FALSE(Exists(base_ + "/outside/new"));
  EXPECT_TRUE(MakeFileIn(root->get(), "g", 0644).ok());
  EXPECT_TRUE(MakeFileIn(root->get(), "g", 0644).ok()) << "an existing file is fine";
}

}  // namespace
}  // namespace kata::fs
