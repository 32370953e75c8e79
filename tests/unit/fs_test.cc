// fs::WriteFileAtomic in a directory others can write (issue 12, medium 8):
// root writes pid files into directories a caller names, and a planted
// symlink must never turn that into a write to another file.
#include "common/fs.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace kata {
namespace {

class WriteFileAtomicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fs_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // What an attacker would want overwritten: a file the test owns.
    victim_ = dir_ + "/victim";
    ASSERT_TRUE(fs::WriteFileAtomic(victim_, "precious", 0600).ok());
  }
  void TearDown() override { (void)fs::RemoveAll(dir_); }
  std::string Read(const std::string& path) {
    auto r = fs::ReadFile(path);
    return r.ok() ? *r : "<unreadable>";
  }
  std::vector<std::string> Entries() {
    std::vector<std::string> names;
    DIR* d = opendir(dir_.c_str());
    while (struct dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    closedir(d);
    return names;
  }
  std::string dir_, victim_;
};

TEST_F(WriteFileAtomicTest, WritesTheContentAndMode) {
  std::string path = dir_ + "/pid";
  ASSERT_TRUE(fs::WriteFileAtomic(path, "1234", 0640).ok());
  EXPECT_EQ(Read(path), "1234");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  mode_t mask = umask(0);
  umask(mask);
  EXPECT_EQ(st.st_mode & 07777, 0640u & ~mask);
  ASSERT_TRUE(fs::WriteFileAtomic(path, "5678").ok());
  EXPECT_EQ(Read(path), "5678");
  // No temp file is left behind.
  EXPECT_EQ(Entries().size(), 2u);
}

TEST_F(WriteFileAtomicTest, NeverWritesThroughASymlinkAtTheOldTempName) {
  // The old code opened ".<name>.tmp<pid>" with O_CREAT|O_TRUNC, following a
  // symlink planted there.
  std::string path = dir_ + "/pid";
  std::string old_tmp = dir_ + "/.pid.tmp" + std::to_string(getpid());
  ASSERT_EQ(symlink(victim_.c_str(), old_tmp.c_str()), 0);
  ASSERT_TRUE(fs::WriteFileAtomic(path, "1234").ok());
  EXPECT_EQ(Read(victim_), "precious");
  EXPECT_EQ(Read(path), "1234");
}

TEST_F(WriteFileAtomicTest, NeverWritesThroughSymlinksAtGuessableNames) {
  std::string path = dir_ + "/pid";
  // Every name a predictable scheme would use: pids around ours, mkstemp's
  // shape with a guessed suffix, the plain ".tmp".
  for (int pid = getpid() - 50; pid <= getpid() + 50; pid++) {
    std::string name = dir_ + "/.pid.tmp" + std::to_string(pid);
    ASSERT_EQ(symlink(victim_.c_str(), name.c_str()), 0);
  }
  for (const char* name : {"/.pid.tmp", "/pid.tmp", "/.pid.XXXXXX", "/.pid.tmp-000000000000000000000000"}) {
    ASSERT_EQ(symlink(victim_.c_str(), (dir_ + name).c_str()), 0);
  }
  for (int i = 0; i < 20; i++) ASSERT_TRUE(fs::WriteFileAtomic(path, "1234").ok());
  EXPECT_EQ(Read(victim_), "precious");
}

TEST_F(WriteFileAtomicTest, ReplacesASymlinkAtTheTargetInsteadOfFollowingIt) {
  std::string path = dir_ + "/pid";
  ASSERT_EQ(symlink(victim_.c_str(), path.c_str()), 0);
  ASSERT_TRUE(fs::WriteFileAtomic(path, "1234").ok());
  EXPECT_EQ(Read(victim_), "precious");
  struct stat st;
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode)) << "the symlink should have been replaced by a regular file";
  EXPECT_EQ(Read(path), "1234");
}

TEST_F(WriteFileAtomicTest, ErrorsNameThePath) {
  Status st = fs::WriteFileAtomic(dir_ + "/missing/pid", "1");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(dir_ + "/missing"), std::string::npos) << st.message();
  st = fs::WriteFileAtomic(dir_ + "/", "1");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not a file name"), std::string::npos) << st.message();
  // A directory at the target: the rename fails and no temp file is left.
  ASSERT_EQ(mkdir((dir_ + "/sub").c_str(), 0700), 0);
  st = fs::WriteFileAtomic(dir_ + "/sub", "1");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(dir_ + "/sub"), std::string::npos) << st.message();
  EXPECT_EQ(Entries().size(), 2u);
}

}  // namespace
}  // namespace kata
