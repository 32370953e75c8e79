// rootfs_image_in_guest on the host: which overlay layers a rootfs has
// (from mountinfo), the ext4 image of a layer stack (a real overlay
// mounted in this test's own mount namespace, a real mke2fs, read back with
// debugfs), its reuse, and the cache's bound.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "private_mounts.h"
#include "common/fs.h"
#include "common/fs_at.h"
#include "sandbox/block_devices.h"
#include "sandbox/rootfs_image.h"
#include "sandbox/rootfs_image_cache.h"

namespace kata {
namespace {

using sandbox::OverlayLayersAt;
using sandbox::RootfsImageCache;

std::string OverlayLine(const std::string& mount_point, const std::string& options) {
  return "1201 29 0:151 / " + mount_point + " rw,relatime - overlay overlay rw," + options + "\n";
}

TEST(OverlayLayersAt, ReadsLowersTopFirstAndTheUpper) {
  std::string info = "29 1 254:1 / / rw - ext4 /dev/vda rw\n" +
                     OverlayLine("/var/lib/containers/storage/overlay/abc/merged",
                                 "lowerdir=/s/l/TOP:/s/l/BASE,upperdir=/s/abc/diff,workdir=/s/abc/work");
  auto l = OverlayLayersAt("/var/lib/containers/storage/overlay/abc/merged", info);
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->lowers, (std::vector<std::string>{"/s/l/TOP", "/s/l/BASE"}));
  EXPECT_EQ(l->upper, "/s/abc/diff");
}

TEST(OverlayLayersAt, MatchesAnEscapedMountPoint) {
  auto l = OverlayLayersAt("/a dir/merged", OverlayLine("/a\\040dir/merged", "lowerdir=/l,upperdir=/u,workdir=/w"));
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->lowers, (std::vector<std::string>{"/l"}));
}

TEST(OverlayLayersAt, NewMountApiListsOneLowerPerOption) {
  auto l = OverlayLayersAt("/r", OverlayLine("/r", "lowerdir+=/a,lowerdir+=/b,upperdir=/u,workdir=/w"));
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->lowers, (std::vector<std::string>{"/a", "/b"}));
}

TEST(OverlayLayersAt, TheMountOnTopIsTheOneRead) {
  std::string info = OverlayLine("/r", "lowerdir=/old,upperdir=/u,workdir=/w") +
                     "1300 1201 0:200 / /r rw - tmpfs tmpfs rw\n";
  auto l = OverlayLayersAt("/r", info);
  ASSERT_FALSE(l.ok());
  EXPECT_NE(l.status().message().find("tmpfs, not an overlay"), std::string::npos) << l.status().message();
}

TEST(OverlayLayersAt, RefusesWhatItCannotSplitSafely) {
  struct Case {
    std::string info, why;
  } cases[] = {
      {"", "nothing is mounted there"},
      {OverlayLine("/r", "lowerdir=/a\\054b:/c,upperdir=/u,workdir=/w"), "escaped"},
      {OverlayLine("/r", "lowerdir=/a::/data,upperdir=/u,workdir=/w"), "data-only"},
      {OverlayLine("/r", "lowerdir=/a:/b"), "no upper directory"},
      {OverlayLine("/r", "lowerdir=l/A:l/B,upperdir=/u,workdir=/w"), "not an absolute path"},
      {"1201 29 0:151 /sub /r rw - overlay overlay rw,lowerdir=/a,upperdir=/u,workdir=/w\n", "bind of part"},
  };
  for (const Case& c : cases) {
    auto l = OverlayLayersAt("/r", c.info);
    ASSERT_FALSE(l.ok()) << c.info;
    EXPECT_NE(l.status().message().find(c.why), std::string::npos) << l.status().message();
  }
}

TEST(RootfsImageFor, OffReadOnlyOrNotAnOverlayMeansSharedWhole) {
  nlohmann::json spec = {{"root", {{"path", "/"}}}};
  sandbox::RootfsImageSettings off;
  EXPECT_FALSE(sandbox::RootfsImageFor(off, spec, "/").has_value());
  sandbox::RootfsImageSettings on{true, "/nonexistent/cache", 1 << 30};
  EXPECT_FALSE(sandbox::RootfsImageFor(on, spec, "/").has_value());  // / is no overlay here
  spec["root"]["readonly"] = true;
  EXPECT_FALSE(sandbox::RootfsImageFor(on, spec, "/").has_value());
  EXPECT_FALSE(fs::Exists("/nonexistent/cache"));
}

TEST(DrivesFor, TheRootfsDiskComesLastAndCountsInTheLimit) {
  sandbox::RootfsSource image;
  image.image = sandbox::RootfsImage{"/cache/x.img", "/upper"};
  auto drives = sandbox::DrivesFor({}, {}, image);
  ASSERT_TRUE(drives.ok()) << drives.status().message();
  ASSERT_EQ(drives->size(), 1u);
  EXPECT_EQ((*drives)[0].serial, "kata-root-0");
  EXPECT_EQ((*drives)[0].path, "/cache/x.img");
  EXPECT_TRUE((*drives)[0].readonly) << "the cached image serves other sandboxes";
  EXPECT_FALSE((*drives)[0].block_device);
  sandbox::RootfsSource block;
  block.block = sandbox::BlockRootfs{"/dev/loop7", "ext4", {}, false};
  auto blk = sandbox::DrivesFor({}, {}, block);
  ASSERT_TRUE(blk.ok());
  EXPECT_EQ((*blk)[0].path, "/dev/loop7");
  EXPECT_TRUE((*blk)[0].block_device);
  EXPECT_FALSE((*blk)[0].readonly);
  EXPECT_EQ(sandbox::DrivesFor({}, {}, {})->size(), 0u);
  std::vector<sandbox::HostBlockMount> mounts(sandbox::kMaxDisks, sandbox::HostBlockMount{});
  EXPECT_FALSE(sandbox::DrivesFor({}, mounts, image).ok());
}

// What debugfs lists in `dir` of the ext4 image (names only).
std::vector<std::string> ImageLs(const std::string& image, const std::string& dir) {
  std::string cmd = "debugfs -R 'ls -p " + dir + "' " + image + " 2>/dev/null";
  std::vector<std::string> names;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return names;
  char line[4096];
  while (fgets(line, sizeof line, p)) {
    // /ino/mode/uid/gid/name/size/
    std::vector<std::string> fields;
    std::string l = line, field;
    for (std::istringstream in(l); std::getline(in, field, '/');) fields.push_back(field);
    if (fields.size() < 6) continue;
    const std::string& name = fields[5];
    if (name != "." && name != "..") names.push_back(name);
  }
  pclose(p);
  std::sort(names.begin(), names.end());
  return names;
}

std::string ImageCat(const std::string& image, const std::string& path) {
  std::string cmd = "debugfs -R 'cat " + path + "' " + image + " 2>/dev/null";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class RootfsImageCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (overlay mounts, whiteouts)";
    if (access("/sbin/mke2fs", X_OK) != 0 || access("/sbin/debugfs", X_OK) != 0) GTEST_SKIP() << "needs e2fsprogs";
    ASSERT_TRUE(test_util::EnterPrivateMountNamespace());
    dir_ = test_util::MakeTempDir("kata-rootfs-image");
    ASSERT_FALSE(dir_.empty());
    base_ = dir_ + "/base";
    top_ = dir_ + "/top";
    cache_ = dir_ + "/cache";
    ASSERT_TRUE(fs::MkdirAll(base_ + "/etc", 0755).ok());
    ASSERT_TRUE(fs::MkdirAll(base_ + "/usr/lib", 0755).ok());
    ASSERT_TRUE(fs::WriteFileAtomic(base_ + "/etc/kept", "from the base\n").ok());
    ASSERT_TRUE(fs::WriteFileAtomic(base_ + "/etc/deleted", "deleted by the top layer\n").ok());
    ASSERT_TRUE(fs::WriteFileAtomic(base_ + "/usr/lib/libx.so", std::string(100000, 'x')).ok());
    ASSERT_EQ(symlink("usr/lib", (base_ + "/lib").c_str()), 0);
    ASSERT_TRUE(fs::MkdirAll(top_ + "/etc", 0755).ok());
    ASSERT_TRUE(fs::WriteFileAtomic(top_ + "/etc/added", "from the top\n").ok());
    // overlay's whiteout: a 0:0 character device hides the name below.
    ASSERT_EQ(mknod((top_ + "/etc/deleted").c_str(), S_IFCHR | 0, makedev(0, 0)), 0);
  }
  void TearDown() override {
    if (!dir_.empty()) (void)fs::RemoveTreeNoFollow(dir_);
  }
  std::string dir_, base_, top_, cache_;
};

TEST_F(RootfsImageCacheTest, ImageHoldsTheLayersViewWithWhiteoutsApplied) {
  RootfsImageCache cache(cache_, 1ull << 30);
  auto image = cache.ImageOf({top_, base_});
  ASSERT_TRUE(image.ok()) << image.status().message();
  EXPECT_EQ(image->rfind(cache_ + "/", 0), 0u);
  EXPECT_EQ(ImageLs(*image, "/"), (std::vector<std::string>{"etc", "lib", "usr"}));  // no lost+found
  EXPECT_EQ(ImageLs(*image, "/etc"), (std::vector<std::string>{"added", "kept"}));
  EXPECT_EQ(ImageCat(*image, "/etc/added"), "from the top\n");
  EXPECT_EQ(ImageCat(*image, "/usr/lib/libx.so").size(), 100000u);
  // Nothing left of the build: no mount, no build directory.
  EXPECT_FALSE(fs::IsMountPoint(cache_));
  auto names = fs::ListDir(cache_);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), 1u);
}

TEST_F(RootfsImageCacheTest, TheSameLayersReuseTheImageAndAChangedLayerMakesAnother) {
  RootfsImageCache cache(cache_, 1ull << 30);
  auto first = cache.ImageOf({top_, base_});
  ASSERT_TRUE(first.ok()) << first.status().message();
  struct stat a{}, b{};
  ASSERT_EQ(stat(first->c_str(), &a), 0);
  auto again = cache.ImageOf({top_, base_});
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(stat(again->c_str(), &b), 0);
  EXPECT_EQ(*first, *again);
  EXPECT_EQ(a.st_ino, b.st_ino);  // not rebuilt
  // A single layer is read as it is (overlay needs two without an upper one).
  auto single = cache.ImageOf({base_});
  ASSERT_TRUE(single.ok()) << single.status().message();
  EXPECT_NE(*single, *first);
  EXPECT_EQ(ImageLs(*single, "/etc"), (std::vector<std::string>{"deleted", "kept"}));
  // A layer made again at the same path is another layer.
  ASSERT_TRUE(fs::WriteFileAtomic(top_ + "/new", "x").ok());
  auto changed = cache.ImageOf({top_, base_});
  ASSERT_TRUE(changed.ok());
  EXPECT_NE(*changed, *first);
}

TEST_F(RootfsImageCacheTest, AMissingLayerIsAnErrorNamingIt) {
  RootfsImageCache cache(cache_, 1ull << 30);
  auto r = cache.ImageOf({top_, dir_ + "/gone"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(dir_ + "/gone"), std::string::npos) << r.status().message();
}

void MakeImageFile(const std::string& path, size_t bytes, time_t age_s) {
  ASSERT_TRUE(fs::WriteFileAtomic(path, std::string(bytes, 'i')).ok());
  struct timespec t[2] = {{time(nullptr) - age_s, 0}, {time(nullptr) - age_s, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), t, 0), 0);
}

TEST_F(RootfsImageCacheTest, TrimRemovesTheLeastRecentlyUsedDownToTheLimit) {
  ASSERT_TRUE(fs::MkdirAll(cache_, 0700).ok());
  const size_t mib = 1 << 20;
  MakeImageFile(cache_ + "/oldest.img", mib, 7200);
  MakeImageFile(cache_ + "/older.img", mib, 3600);
  MakeImageFile(cache_ + "/kept.img", mib, 9000);    // asked to keep
  MakeImageFile(cache_ + "/recent.img", mib, 60);    // within the grace
  MakeImageFile(cache_ + "/other.txt", mib, 99999);  // not an image
  ASSERT_TRUE(fs::MkdirAll(cache_ + "/.build-1-0/layers", 0700).ok());
  struct timespec old[2] = {{time(nullptr) - 7200, 0}, {time(nullptr) - 7200, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, (cache_ + "/.build-1-0").c_str(), old, 0), 0);
  ASSERT_TRUE(fs::MkdirAll(cache_ + "/.build-2-0", 0700).ok());  // a live builder's

  RootfsImageCache cache(cache_, 2 * mib + mib / 2);
  auto removed = cache.Trim("kept.img");
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<std::string>{".build-1-0", "older.img", "oldest.img"}));
  EXPECT_TRUE(fs::Exists(cache_ + "/kept.img"));
  EXPECT_TRUE(fs::Exists(cache_ + "/recent.img"));
  EXPECT_TRUE(fs::Exists(cache_ + "/other.txt"));
  EXPECT_TRUE(fs::Exists(cache_ + "/.build-2-0"));
}

}  // namespace
}  // namespace kata
