// The agent's side of resources that follow the pod, on directories shaped
// like the guest's sysfs: memory blocks added through the probe interface
// (guest_memory.h) and vCPUs brought online (guest_cpus.h).
#include <gtest/gtest.h>
#include <unistd.h>

#include "agent/guest_cpus.h"
#include "agent/guest_memory.h"
#include "agent/shared_mounts.h"
#include "common/fs.h"

namespace kata::agent {
namespace {

class FakeSysMemory : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/guest-memory-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ + "/block_size_bytes", "8000000\n").ok());
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ + "/probe", "").ok());
    // memory2 (256-384 MiB) exists, offline: added before, never onlined.
    ASSERT_TRUE(fs::MkdirAll(dir_ + "/memory2").ok());
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ + "/memory2/state", "offline\n").ok());
  }
  void TearDown() override { (void)fs::RemoveAll(dir_); }
  std::string Read(const std::string& rel) { return fs::ReadFile(dir_ + "/" + rel).value_or("?"); }
  std::string dir_;
};

TEST_F(FakeSysMemory, ANewBlockIsProbedByItsAddressAndAnExistingOneOnlined) {
  // The fake's probe file does not create memory3, so onlining it fails
  // after the probe was written: the address reached the kernel's file.
  Status st = AddMemoryBlocks({0x18000000}, dir_);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(Read("probe"), "0x18000000");
  EXPECT_NE(st.message().find("bring the memory block at 0x18000000 online"), std::string::npos) << st.message();

  ASSERT_TRUE(AddMemoryBlocks({0x10000000}, dir_).ok());
  // Written in place as sysfs takes it; a regular file keeps the old tail.
  EXPECT_EQ(Read("memory2/state").substr(0, 6), "online");
  ASSERT_TRUE(fs::WriteFileAtomic(dir_ + "/probe", "").ok());
  ASSERT_TRUE(AddMemoryBlocks({0x10000000}, dir_).ok()) << "idempotent";
  EXPECT_EQ(Read("probe"), "") << "an existing block is not probed again";
}

TEST_F(FakeSysMemory, AnUnalignedAddressOrTooManyAreRefused) {
  Status st = AddMemoryBlocks({0x10001000}, dir_);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "memory block address 0x10001000 is not a multiple of the guest's block size 0x8000000");
  EXPECT_EQ(Read("probe"), "");
  EXPECT_FALSE(AddMemoryBlocks(std::vector<uint64_t>(kMaxMemoryBlocksPerRequest + 1, 0x10000000), dir_).ok());
  EXPECT_TRUE(AddMemoryBlocks({}, dir_).ok());
}

TEST_F(FakeSysMemory, ABlockSizeThatIsNotOneIsAnError) {
  ASSERT_TRUE(fs::WriteFileAtomic(dir_ + "/block_size_bytes", "zz\n").ok());
  Status st = AddMemoryBlocks({0x10000000}, dir_);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("is not a block size"), std::string::npos) << st.message();
}

// What a container mounted below its rshared volumes that the host can
// mirror: 9p binds of the share only, strictly below a volume, paths
// unescaped; a tmpfs of the guest's, the volume itself and mounts elsewhere
// are not reported.
TEST(SharedMountsIn, NinePBindsBelowAVolume) {
  std::string mountinfo =
      "20 1 0:21 /c1/rootfs / rw,relatime - 9p kataShared rw,trans=virtio\n"
      "30 20 0:21 /c1/vol / rw - 9p kataShared rw\n"
      "31 30 0:21 /c1/vol /data rw shared:5 - 9p kataShared rw\n"
      "32 31 0:21 /c1/rootfs/etc /data/mnt rw shared:5 - 9p kataShared rw\n"
      "33 31 0:40 / /data/scratch rw - tmpfs tmpfs rw\n"
      "34 31 0:21 /c1/rootfs/my\\040dir /data/a\\040b rw - 9p kataShared rw\n"
      "35 20 0:21 /c1/rootfs/etc /elsewhere rw - 9p kataShared rw\n"
      "36 31 0:21 /c1/rootfs/etc /database/x rw - 9p kataShared rw\n";
  std::string agent = "25 1 0:21 / /run/kata-containers/shared/containers rw - 9p kataShared rw\n";
  ShareDevices share = ShareDevicesIn(agent, "/run/kata-containers/shared/containers");
  std::vector<SharedMount> m = SharedMountsIn(mountinfo, {"/data"}, share);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].volume, "/data");
  EXPECT_EQ(m[0].path, "mnt");
  EXPECT_EQ(m[0].share_path, "c1/rootfs/etc");
  EXPECT_EQ(m[1].path, "a b");
  EXPECT_EQ(m[1].share_path, "c1/rootfs/my dir");
  EXPECT_TRUE(SharedMountsIn(mountinfo, {}, share).empty());
  EXPECT_TRUE(SharedMountsIn("garbage\n\n1 2 3\n", {"/data"}, share).empty());
}

// virtio-fs: every host mount below the share is its own guest mount (and
// device), its root "/": the agent's mounts say where each one is.
TEST(SharedMountsIn, VirtioFsSubmountsBelowAVolume) {
  std::string agent =
      "25 1 0:21 / /run/kata-containers/shared/containers rw - virtiofs none rw\n"
      "26 25 0:28 / /run/kata-containers/shared/containers/c1/rootfs rw - virtiofs none rw\n"
      "27 25 0:29 / /run/kata-containers/shared/containers/c1/mounts/0 rw - virtiofs none rw\n"
      "28 1 0:30 / /elsewhere rw - virtiofs none rw\n";
  ShareDevices share = ShareDevicesIn(agent, "/run/kata-containers/shared/containers");
  ASSERT_EQ(share.size(), 3u);
  std::string mountinfo =
      "36 24 0:28 / / rw - virtiofs none rw\n"
      "44 36 0:29 / /data rw shared:5 - virtiofs none rw\n"
      "45 44 0:28 /etc /data/mnt rw shared:5 - virtiofs none rw\n"
      "46 44 0:30 / /data/other rw - virtiofs none rw\n"
      "47 44 0:41 / /data/scratch rw - tmpfs tmpfs rw\n";
  std::vector<SharedMount> m = SharedMountsIn(mountinfo, {"/data"}, share);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].path, "mnt");
  EXPECT_EQ(m[0].share_path, "c1/rootfs/etc");
}

TEST(CountCpuList, RangesAndSingles) {
  EXPECT_EQ(CountCpuList("0"), 1u);
  EXPECT_EQ(CountCpuList("0-2,5"), 4u);
  EXPECT_EQ(CountCpuList(""), 0u);
}

}  // namespace
}  // namespace kata::agent
