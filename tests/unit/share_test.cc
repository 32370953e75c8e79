// The sandbox's share (sandbox/share.h) against real mount namespaces, no VM:
// a stand-in VMM (sleep) is confined as QEMU is (vmm/confinement.h) and the
// host binds into its namespace. What the VMM would export to the guest is
// read through /proc/<pid>/root, which resolves in the VMM's namespace.
// Needs root (CI runs as root).
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "common/fs_at.h"
#include "common/process.h"
#include "sandbox/share.h"
#include "vmm/share_namespace.h"

namespace kata::sandbox {
namespace {

// Under ThreadSanitizer its runtime starts a thread of its own in the child
// a single-threaded process forks, so the stand-in's setns() into the
// share's mount namespace fails (EINVAL: a thread shares its fs). These tests
// run no thread that TSan could check; the other builds run them.
#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderTsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kUnderTsan = true;
#else
constexpr bool kUnderTsan = false;
#endif
#else
constexpr bool kUnderTsan = false;
#endif

bool CanWrite(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  close(fd);
  return true;
}

class ShareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    if (kUnderTsan) GTEST_SKIP() << "not under TSan: a forked child cannot setns() into a mount namespace there";
    char tmpl[] = "/tmp/kata-share-test.XXXXXX";
    base_ = mkdtemp(tmpl);
    share_ = Share(base_ + "/sandbox");
    ASSERT_TRUE(share_.Create().ok());
    volume_ = base_ + "/volume";
    ASSERT_TRUE(fs::MkdirAll(volume_ + "/sub", 0755).ok());
    ASSERT_TRUE(fs::WriteFileAtomic(volume_ + "/file", "data").ok());
    outside_ = base_ + "/outside";
    ASSERT_TRUE(fs::MkdirAll(outside_, 0755).ok());
    // The stand-in VMM, confined as QEMU is.
    auto ns = vmm::MakeShareNamespace(share_.source_dir(), share_.exported_dir());
    ASSERT_TRUE(ns.ok()) << ns.status().message();
    proc::SpawnOptions opts;
    opts.mount_ns_fd = ns->get();
    auto pid = proc::Spawn({"sleep", "600"}, opts);
    ASSERT_TRUE(pid.ok()) << pid.status().message();
    vmm_ = *pid;
  }
  void TearDown() override {
    if (vmm_ > 0) {
      kill(vmm_, SIGKILL);
      waitpid(vmm_, nullptr, 0);
    }
    if (!base_.empty()) {
      umount2((volume_ + "/sub").c_str(), MNT_DETACH);
      (void)fs::RemoveTreeNoFollow(base_);
    }
  }
  // A path as the VMM (and so the guest, through the export) sees it.
  std::string InVmm(const std::string& path) const { return "/proc/" + std::to_string(vmm_) + "/root" + path; }
  std::string Exported(const std::string& rel) const { return InVmm(share_.exported_dir() + "/" + rel); }

  std::string base_, volume_, outside_;
  Share share_;
  pid_t vmm_ = -1;
};

TEST_F(ShareTest, BindIsSeenInTheExportOnlyAndTheExportItselfIsReadOnly) {
  ASSERT_TRUE(share_.Bind(vmm_, volume_, "c1/mounts/0", false).ok());
  EXPECT_EQ(*fs::ReadFile(Exported("c1/mounts/0/file")), "data");
  EXPECT_TRUE(CanWrite(Exported("c1/mounts/0/new"))) << "a rw volume stays writable";
  EXPECT_TRUE(fs::Exists(volume_ + "/new"));
  // The guest cannot create anything in the share's own directories.
  EXPECT_FALSE(CanWrite(Exported("planted")));
  EXPECT_EQ(errno, EROFS);
  EXPECT_FALSE(CanWrite(Exported("c1/planted")));
  EXPECT_EQ(symlink("/etc", Exported("c1/link").c_str()), -1);
  // The bind is the VMM's: the host's namespace (ours) has none.
  EXPECT_FALSE(fs::Exists(share_.source_dir() + "/c1/mounts/0/file"));
}

TEST_F(ShareTest, ReadOnlyIsRecursiveAndEveryBindIsNosuidNodev) {
  ASSERT_EQ(mount("tmpfs", (volume_ + "/sub").c_str(), "tmpfs", 0, "size=1m"), 0);
  ASSERT_TRUE(share_.Bind(vmm_, volume_, "c1/mounts/0", true).ok());
  EXPECT_FALSE(CanWrite(Exported("c1/mounts/0/x")));
  EXPECT_FALSE(CanWrite(Exported("c1/mounts/0/sub/x"))) << "a submount of a ro volume is read-only too";
  std::string info = *fs::ReadFile("/proc/" + std::to_string(vmm_) + "/mountinfo");
  size_t at = info.find(share_.exported_dir() + "/c1/mounts/0 ");
  ASSERT_NE(at, std::string::npos) << info;
  std::string line = info.substr(at, info.find('\n', at) - at);
  for (const char* flag : {"ro", "nosuid", "nodev"}) {
    EXPECT_NE(line.find(flag), std::string::npos) << flag << " missing: " << line;
  }
}

TEST_F(ShareTest, UnbindDetachesAndRemoves) {
  ASSERT_TRUE(share_.Bind(vmm_, volume_, "c1/rootfs", false).ok());
  ASSERT_TRUE(share_.Bind(vmm_, volume_ + "/file", "c1/mounts/1", false).ok());
  EXPECT_EQ(*fs::ReadFile(Exported("c1/mounts/1")), "data");
  ASSERT_TRUE(share_.Unbind(vmm_, "c1").ok());
  EXPECT_FALSE(fs::Exists(Exported("c1")));
  EXPECT_FALSE(fs::Exists(share_.source_dir() + "/c1"));
  EXPECT_EQ(*fs::ReadFile(volume_ + "/file"), "data") << "the source is untouched";
}

// Issue 12, High 1: a guest that swapped a directory of the share for a
// symlink made the host create directories and bind volumes outside it. The
// host's side of the share is out of the guest's reach now; even a link
// planted there is refused, not followed.
TEST_F(ShareTest, APlantedSymlinkIsNeverFollowed) {
  ASSERT_EQ(symlink(outside_.c_str(), (share_.source_dir() + "/c1").c_str()), 0);
  Status st = share_.Bind(vmm_, volume_, "c1/mounts/0", false);
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(fs::Exists(outside_ + "/mounts")) << "nothing was created through the link";
  std::string info = *fs::ReadFile("/proc/" + std::to_string(vmm_) + "/mountinfo");
  EXPECT_EQ(info.find(outside_), std::string::npos) << info;
  ASSERT_EQ(unlink((share_.source_dir() + "/c1").c_str()), 0);
  // A link as the last component (a file mount point) is refused too.
  ASSERT_TRUE(fs::MkdirAll(share_.source_dir() + "/c2", 0755).ok());
  ASSERT_EQ(symlink((outside_ + "/target").c_str(), (share_.source_dir() + "/c2/f").c_str()), 0);
  EXPECT_FALSE(share_.Bind(vmm_, volume_ + "/file", "c2/f", false).ok());
  EXPECT_FALSE(fs::Exists(outside_ + "/target"));
}

TEST_F(ShareTest, DestroyLeavesNothingAndTheBindsDieWithTheVmm) {
  ASSERT_TRUE(share_.Bind(vmm_, volume_, "c1/rootfs", false).ok());
  kill(vmm_, SIGKILL);
  waitpid(vmm_, nullptr, 0);
  vmm_ = -1;
  ASSERT_TRUE(share_.Destroy().ok());
  EXPECT_FALSE(fs::Exists(share_.dir()));
  EXPECT_EQ(*fs::ReadFile(volume_ + "/file"), "data");
}

}  // namespace
}  // namespace kata::sandbox
