// The rootfs containerd hands the shim: which one the guest mounts itself
// (one ext4/xfs mount of a host block device, as devmapper gives) and which
// the shim mounts on the host.
#include "shim/rootfs_mount.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

namespace kata::shim {
namespace {

MountList Mounts(std::vector<std::tuple<std::string, std::string, std::vector<std::string>>> list) {
  MountList out;
  for (auto& [type, source, options] : list) {
    auto* m = out.Add();
    m->set_type(type);
    m->set_source(source);
    for (const std::string& o : options) m->add_options(o);
  }
  return out;
}

// Any block device node of this host (the test only stats it).
std::string SomeBlockDevice() {
  for (const char* p : {"/dev/loop0", "/dev/vda", "/dev/sda", "/dev/nvme0n1"}) {
    struct stat s{};
    if (stat(p, &s) == 0 && S_ISBLK(s.st_mode)) return p;
  }
  return "";
}

TEST(BlockRootfsOf, OneExt4OrXfsMountOfABlockDeviceIsTheGuests) {
  std::string dev = SomeBlockDevice();
  if (dev.empty()) GTEST_SKIP() << "no block device node to name";
  auto b = BlockRootfsOf(Mounts({{"ext4", dev, {"ro", "noatime"}}}));
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->device, dev);
  EXPECT_EQ(b->fstype, "ext4");
  EXPECT_TRUE(b->readonly);
  EXPECT_EQ(b->options, (std::vector<std::string>{"ro", "noatime"}));
  auto x = BlockRootfsOf(Mounts({{"xfs", dev, {"nouuid"}}}));
  ASSERT_TRUE(x.has_value());
  EXPECT_FALSE(x->readonly);
}

TEST(BlockRootfsOf, AnythingElseIsMountedByTheShim) {
  std::string dev = SomeBlockDevice();
  EXPECT_FALSE(BlockRootfsOf(Mounts({})).has_value());
  EXPECT_FALSE(BlockRootfsOf(Mounts({{"overlay", "overlay", {"lowerdir=/a", "upperdir=/u", "workdir=/w"}}})).has_value());
  EXPECT_FALSE(BlockRootfsOf(Mounts({{"ext4", "/etc/hostname", {}}})).has_value()) << "a file is no block device";
  EXPECT_FALSE(BlockRootfsOf(Mounts({{"bind", "/tmp", {"rbind"}}})).has_value());
  if (!dev.empty()) {
    EXPECT_FALSE(BlockRootfsOf(Mounts({{"btrfs", dev, {}}})).has_value());
    EXPECT_FALSE(BlockRootfsOf(Mounts({{"ext4", dev, {}}, {"ext4", dev, {}}})).has_value());
  }
}

}  // namespace
}  // namespace kata::shim
