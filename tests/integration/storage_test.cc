// Issue 15, disks: a direct volume (`kata-runtime direct-volume add`, an
// ext4 image assigned to a volume path) and an ext4 block device named as a
// mount's source reach the container as disks the guest mounts itself; what
// the container writes is in the image on the host afterwards; bad input
// gets an error naming it; nothing is left (no mount, no loop device in use,
// no QEMU, no registration after remove).
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "harness.h"

namespace kata::itest {
namespace {

class StorageTest : public ::testing::Test {
 protected:
  CmdResult Kata(std::vector<std::string> args) {
    args.insert(args.begin(), Runtime());
    return itest::Run(args);
  }
  // A bundle whose process runs `script` with `mount` added to its mounts.
  std::string Bundle(const std::string& name, const std::string& script, const nlohmann::json& mount) {
    std::string dir = tmp_.path() + "/" + name;
    MakeBundle(dir, {"sh", "-c", script});
    nlohmann::json spec = nlohmann::json::parse(std::ifstream(dir + "/config.json"));
    spec["mounts"].push_back(mount);
    std::ofstream(dir + "/config.json") << spec.dump();
    return dir;
  }
  std::string MakeExt4(const std::string& name, const std::string& file_in_it) {
    std::string img = tmp_.path() + "/" + name;
    std::string src = tmp_.path() + "/" + name + ".src";
    EXPECT_EQ(Sh("mkdir -p " + src + " && echo from-the-host > " + src + "/" + file_in_it + " && truncate -s 32M " + img +
                 " && mkfs.ext4 -q -d " + src + " " + img).exit_code, 0);
    return img;
  }
  // What the image holds at `path`, read on the host without mounting it.
  std::string ReadInImage(const std::string& img, const std::string& path) {
    return Trim(Sh("debugfs -R 'cat " + path + "' " + img + " 2>/dev/null").out);
  }
  TempDir tmp_;
};

TEST_F(StorageTest, DirectVolumeIsMountedInTheGuestFromItsImage) {
  std::string img = MakeExt4("direct.img", "hello");
  std::string vol = tmp_.path() + "/vol-path";  // needs not exist: it names the volume
  CmdResult add = Kata({"direct-volume", "add", "--volume-path", vol, "--mount-info",
                        "{\"device\": \"" + img + "\", \"fs_type\": \"ext4\", \"volume_type\": \"block\"}"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  std::string id = UniqueId("dvol");
  std::string bundle = Bundle("b-dvol", "cat /data/hello; grep ' /data ' /proc/mounts | cut -d' ' -f3; echo written > /data/by-container",
                              {{"destination", "/data"}, {"type", "bind"}, {"source", vol}, {"options", {"rbind", "rw"}}});
  CmdResult r = Kata({"run", "--bundle", bundle, id});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("from-the-host"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("ext4"), std::string::npos) << "not the guest's own mount of the disk: " << r.out;
  EXPECT_EQ(ReadInImage(img, "/by-container"), "written");
  EXPECT_EQ(LeaksAfter(id, 10), "");
  EXPECT_EQ(Kata({"direct-volume", "stats", "--volume-path", vol}).exit_code, 1);
  EXPECT_EQ(Kata({"direct-volume", "remove", "--volume-path", vol}).exit_code, 0);
  CmdResult again = Kata({"direct-volume", "remove", "--volume-path", vol});
  EXPECT_NE(again.err.find("no direct volume is registered for " + vol), std::string::npos) << again.err;
}

TEST_F(StorageTest, Ext4BlockDeviceMountSourceIsMountedInTheGuest) {
  std::string img = MakeExt4("dev.img", "hello");
  std::string loop = Trim(Sh("losetup --find --show " + img).out);
  ASSERT_EQ(loop.rfind("/dev/loop", 0), 0u) << loop;
  std::string id = UniqueId("blkmnt");
  std::string bundle = Bundle("b-blk", "cat /data/hello && echo from-guest > /data/g",
                              {{"destination", "/data"}, {"type", "ext4"}, {"source", loop}, {"options", {"rw"}}});
  CmdResult r = Kata({"run", "--bundle", bundle, id});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("from-the-host"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(LeaksAfter(id, 10), "");
  EXPECT_EQ(Sh("losetup -d " + loop).exit_code, 0) << "the loop device is still in use";
  EXPECT_EQ(ReadInImage(img, "/g"), "from-guest");
}

TEST_F(StorageTest, BadDirectVolumesAreRefusedByName) {
  std::string vol = tmp_.path() + "/v";
  CmdResult missing = Kata({"direct-volume", "add", "--volume-path", vol, "--mount-info",
                            "{\"device\": \"/nonexistent/disk.img\", \"fs_type\": \"ext4\"}"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("/nonexistent/disk.img"), std::string::npos) << missing.err;
  CmdResult dir = Kata({"direct-volume", "add", "--volume-path", vol, "--mount-info",
                        "{\"device\": \"" + tmp_.path() + "\", \"fs_type\": \"ext4\"}"});
  EXPECT_NE(dir.err.find("neither a block device nor a disk image"), std::string::npos) << dir.err;
  std::string img = MakeExt4("fs.img", "x");
  CmdResult fs = Kata({"direct-volume", "add", "--volume-path", vol, "--mount-info",
                       "{\"device\": \"" + img + "\", \"fs_type\": \"ntfs\"}"});
  EXPECT_NE(fs.err.find("\"fs_type\" must be \"ext4\" or \"xfs\""), std::string::npos) << fs.err;
}

// An image that is not the file system it claims: the create fails naming
// the disk and nothing stays (the VM, the registration is the user's).
TEST_F(StorageTest, CorruptImageFailsTheCreateAndLeavesNothing) {
  std::string img = tmp_.path() + "/zeros.img";
  ASSERT_EQ(Sh("truncate -s 16M " + img).exit_code, 0);
  std::string vol = tmp_.path() + "/corrupt-vol";
  ASSERT_EQ(Kata({"direct-volume", "add", "--volume-path", vol, "--mount-info",
                  "{\"device\": \"" + img + "\", \"fs_type\": \"ext4\"}"}).exit_code, 0);
  std::string id = UniqueId("corrupt");
  std::string bundle = Bundle("b-corrupt", "true",
                              {{"destination", "/data"}, {"type", "bind"}, {"source", vol}, {"options", {"rbind"}}});
  CmdResult r = Kata({"run", "--bundle", bundle, id});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("block volume kata-vol-0: mount"), std::string::npos) << r.err;
  EXPECT_EQ(LeaksAfter(id, 10), "");
  EXPECT_EQ(Kata({"direct-volume", "remove", "--volume-path", vol}).exit_code, 0);
}

}  // namespace
}  // namespace kata::itest
