// Issue 15, disks: a direct volume (`kata-runtime direct-volume add`, an
// ext4 image assigned to a volume path) and an ext4 block device named as a
// mount's source reach the container as disks the guest mounts itself; what
// the container writes is in the image on the host afterwards; bad input
// gets an error naming it; nothing is left (no mount, no loop device in use,
// no QEMU, no registration after remove).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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
  void StatsAndResize(const std::string& fstype, const std::string& img, uint64_t mib, uint64_t grow_mib);
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

// `direct-volume stats` and `resize` ask the sandbox that mounts the volume:
// the guest's own figures for its file system, and an online grow (QEMU
// grows the image, the agent the ext4 on it) that the container sees at once.
// Each file system: `img` of `mib` MiB with /hello, grown to `grow_mib`.
void StorageTest::StatsAndResize(const std::string& fstype, const std::string& img, uint64_t mib, uint64_t grow_mib) {
  std::string vol = tmp_.path() + "/grow-vol-" + fstype;
  ASSERT_EQ(Kata({"direct-volume", "add", "--volume-path", vol, "--mount-info",
                  "{\"device\": \"" + img + "\", \"fs_type\": \"" + fstype + "\"}"}).exit_code, 0);
  std::string id = UniqueId("dvgrow-" + fstype);
  std::string bundle = Bundle("b-grow", "sleep 600",
                              {{"destination", "/data"}, {"type", "bind"}, {"source", vol}, {"options", {"rbind", "rw"}}});
  ASSERT_EQ(Kata({"run", "-d", "--bundle", bundle, id}).exit_code, 0);
  auto total_bytes = [&] {
    CmdResult st = Kata({"direct-volume", "stats", "--volume-path", vol});
    EXPECT_EQ(st.exit_code, 0) << st.err;
    nlohmann::json j = nlohmann::json::parse(st.out, nullptr, false);
    for (const auto& u : j.value("usage", nlohmann::json::array())) {
      if (u.value("unit", 0) == 1) return u.value("total", uint64_t(0));
    }
    ADD_FAILURE() << "no byte usage in " << st.out;
    return uint64_t(0);
  };
  uint64_t before = total_bytes();
  EXPECT_GT(before, mib * 6 / 10 << 20);
  EXPECT_LE(before, mib << 20);
  std::string grown = std::to_string(grow_mib << 20);
  CmdResult grow = Kata({"direct-volume", "resize", "--volume-path", vol, "--size", grown});
  EXPECT_EQ(grow.exit_code, 0) << grow.err;
  // At least half of what the disk gained: a file system keeps some.
  uint64_t grown_at_least = before + ((grow_mib - mib) << 20) / 2;
  EXPECT_GT(total_bytes(), grown_at_least);
  EXPECT_EQ(Trim(Sh("stat -c %s " + img).out), grown) << "QEMU grew the image";
  CmdResult df = Kata({"exec", id, "sh", "-c", "df -k /data | tail -1"});
  EXPECT_EQ(df.exit_code, 0) << df.err;
  std::istringstream cols(df.out);
  std::string fs_name;
  uint64_t kib = 0;
  cols >> fs_name >> kib;
  EXPECT_GT(kib << 10, grown_at_least) << "the container sees the grown volume: " << df.out;
  CmdResult shrink = Kata({"direct-volume", "resize", "--volume-path", vol, "--size", std::to_string(mib << 20)});
  EXPECT_NE(shrink.exit_code, 0);
  EXPECT_NE(shrink.err.find("disks only grow"), std::string::npos) << shrink.err;
  EXPECT_EQ(Trim(Sh("stat -c %s " + img).out), grown) << "a refused shrink cut the image";
  EXPECT_EQ(Kata({"exec", id, "cat", "/data/hello"}).out, "from-the-host\n");
  EXPECT_EQ(Kata({"delete", "--force", id}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
  CmdResult after = Kata({"direct-volume", "stats", "--volume-path", vol});
  EXPECT_NE(after.exit_code, 0);
  EXPECT_NE(after.err.find("not mounted by any running sandbox"), std::string::npos) << after.err;
  EXPECT_EQ(Kata({"direct-volume", "remove", "--volume-path", vol}).exit_code, 0);
}

TEST_F(StorageTest, DirectVolumeStatsAndResizeReachTheRunningGuest) {
  StatsAndResize("ext4", MakeExt4("grow.img", "hello"), 32, 96);
}

TEST_F(StorageTest, XfsDirectVolumeGrowsOnline) {
  std::string img = tmp_.path() + "/grow-xfs.img";
  std::string mnt = tmp_.path() + "/grow-xfs.mnt";
  // mkfs.xfs's smallest is 300 MB; the image is sparse. /hello is written
  // through a loop mount on the host (mkfs.xfs has no -d like mkfs.ext4).
  ASSERT_EQ(Sh("truncate -s 320M " + img + " && mkfs.xfs -q -f " + img + " && mkdir -p " + mnt + " && mount -o loop " +
               img + " " + mnt + " && echo from-the-host > " + mnt + "/hello && umount " + mnt).exit_code, 0);
  StatsAndResize("xfs", img, 320, 400);
}

// [runtime] rootfs_writes_in_guest: the container writes to an overlay whose
// upper layer is guest memory; the bundle's rootfs on the host never changes.
TEST_F(StorageTest, RootfsWritesInGuestNeverReachTheHost) {
  auto OnHost = [](const std::string& p) { return std::filesystem::exists(std::filesystem::symlink_status(p)); };
  std::string conf = tmp_.path() + "/upper.toml";
  std::ofstream(conf) << "[runtime]\nrootfs_writes_in_guest = true\n";
  std::string id = UniqueId("upper");
  std::string dir = tmp_.path() + "/b-upper";
  MakeBundle(dir, {"sh", "-c",
                   "echo in-guest > /written && cat /written && rm /bin/true && mkdir /d && "
                   "grep ' / ' /proc/mounts | cut -d' ' -f3; ls /bin/true 2>&1 || true"});
  CmdResult r = itest::Run({Runtime(), "run", "--bundle", dir, id}, {{"KATA_CONF_FILE", conf}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("in-guest"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("overlay"), std::string::npos) << "the root is not the guest's overlay: " << r.out;
  EXPECT_NE(r.out.find("No such file"), std::string::npos) << "the removal did not show: " << r.out;
  EXPECT_FALSE(OnHost(dir + "/rootfs/written")) << "a write reached the host's rootfs";
  EXPECT_FALSE(OnHost(dir + "/rootfs/d"));
  EXPECT_TRUE(OnHost(dir + "/rootfs/bin/true")) << "a removal reached the host's rootfs";
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

// [runtime] rootfs_image_in_guest: a rootfs that is an overlay on the host
// (as podman's and containerd's are) reaches the guest as an ext4 image of
// its lower layers (a disk) below its upper directory (shared read-only)
// below guest memory. The container sees the layers' view (a whiteout
// applied, the upper directory's file), its writes stay in the guest, the
// image is built once and reused, and nothing is left.
TEST_F(StorageTest, RootfsImageLayersReachTheGuestAsADisk) {
  std::string b = tmp_.path() + "/b-image";
  MakeBundle(b, {"sh", "-c",
                 "cat /etc/top-layer /from-upper; ls /etc/hidden 2>&1; echo w > /etc/written && cat /etc/written; "
                 "grep ' / ' /proc/mounts | grep -c kata-root-0"});
  std::string base = tmp_.path() + "/layer-base", top = tmp_.path() + "/layer-top", up = tmp_.path() + "/upper";
  ASSERT_EQ(Sh("mv " + b + "/rootfs " + base + " && echo hidden > " + base + "/etc/hidden && mkdir -p " + top +
               "/etc " + up + " " + tmp_.path() + "/work " + b + "/rootfs && echo from-top > " + top +
               "/etc/top-layer && mknod " + top + "/etc/hidden c 0 0 && echo from-upper > " + up + "/from-upper && " +
               "mount -t overlay overlay -o lowerdir=" + top + ":" + base + ",upperdir=" + up + ",workdir=" +
               tmp_.path() + "/work " + b + "/rootfs").exit_code, 0);
  struct Unmount {
    std::string at;
    ~Unmount() { Sh("umount " + at); }
  } unmount{b + "/rootfs"};
  std::string cache = tmp_.path() + "/image-cache";
  std::string conf = tmp_.path() + "/image.toml";
  std::ofstream(conf) << "[runtime]\nrootfs_writes_in_guest = true\nrootfs_image_in_guest = true\n"
                      << "rootfs_image_cache_dir = \"" << cache << "\"\n";
  std::string first_image;
  for (int round = 0; round < 2; round++) {
    std::string id = UniqueId("image");
    CmdResult r = itest::Run({Runtime(), "run", "--bundle", b, id}, {{"KATA_CONF_FILE", conf}});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("from-top\nfrom-upper\n"), std::string::npos) << r.out << r.err;
    EXPECT_NE(r.out.find("/etc/hidden: No such file"), std::string::npos) << "the whiteout was not applied: " << r.out;
    EXPECT_NE(r.out.find("w\n1\n"), std::string::npos) << "the root's lower layers have no image disk: " << r.out;
    EXPECT_EQ(LeaksAfter(id, 10), "");
    auto images = Sh("ls " + cache + " | grep -c '[.]img$'");
    EXPECT_EQ(Trim(images.out), "1") << "one image for one layer stack";
    std::string image = Trim(Sh("ls -i " + cache + "/*.img").out);
    if (round == 0) first_image = image;
    EXPECT_EQ(image, first_image) << "the second run rebuilt the image";
  }
  EXPECT_FALSE(std::filesystem::exists(up + "/etc/written")) << "a write reached the host's upper directory";
  EXPECT_FALSE(std::filesystem::exists(b + "/rootfs/etc/written"));
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

// The FUSE requests a volume's file work sends to virtiofsd, read from its
// debug log. Our guest kernel (guest/kernel/patches/0004-0007) creates a
// name it has not looked up with one exclusive CREATE, without a LOOKUP
// first (an existing name, here a file and a symlink opened to append, gets
// EEXIST and is looked up and opened as before, as are a dangling symlink,
// an O_EXCL open of an existing file and a directory); remembers that virtiofsd
// has no ioctl (an isatty() on each open was one IOCTL round trip to the
// host); knows that creating a file changes its directory's size and times
// but not its mode and owner (the next path walk used to fetch the
// directory's attributes again); and sends no FLUSH when a file open only
// for reading is closed. The cache mode is "always" so that no attribute
// times out while the commands run, however slow the machine: any GETATTR
// here is an invalidation.
TEST_F(StorageTest, VolumeFileWorkSendsOnlyTheRoundTripsItNeeds) {
  std::string vol = tmp_.path() + "/rt-vol";
  std::filesystem::create_directories(vol);
  std::ofstream(vol + "/host-made") << "from-host\n";
  std::filesystem::create_symlink("host-made", vol + "/link");
  std::filesystem::create_symlink("made-through-dangling", vol + "/dangling");
  std::filesystem::create_directory(vol + "/a-dir");
  std::string conf = tmp_.path() + "/fuse-debug.toml";
  std::ofstream(conf) << "[hypervisor.qemu]\nshared_fs = \"virtio-fs\"\nvirtio_fs_cache = \"always\"\n"
                      << "virtio_fs_extra_args = [\"-d\"]\n";
  std::map<std::string, std::string> env{{"KATA_CONF_FILE", conf}};
  std::string id = UniqueId("fuse-rt");
  std::string bundle = Bundle("b-fuse-rt", "sleep 600",
                              {{"destination", "/vol"}, {"type", "bind"}, {"source", vol}, {"options", {"rbind"}}});
  ASSERT_EQ(itest::Run({Runtime(), "run", "-d", "--bundle", bundle, id}, env).exit_code, 0);
  constexpr int kFiles = 10;
  // Each stat of a missing mark is a LOOKUP that names it in the log.
  std::string files = "$(seq " + std::to_string(kFiles) + ")";
  CmdResult work = itest::Run({Runtime(), "exec", id, "sh", "-c",
                               "stat /vol/create-mark; for i in " + files + "; do echo x > /vol/f$i; done; "
                               "stat /vol/read-mark; for i in " + files + "; do tty < /vol/f$i; cat /vol/f$i; done; "
                               "stat /vol/end-mark; echo appended >> /vol/host-made; echo via-link >> /vol/link; "
                               "echo d > /vol/dangling; (set -C; echo no > /vol/host-made) || echo excl-refused; "
                               "(echo no > /vol/a-dir) || echo dir-refused"},
                              env);
  EXPECT_NE(work.out.find("not a tty\nx\n"), std::string::npos) << work.out << work.err;
  EXPECT_EQ(Sh("cat " + vol + "/host-made").out, "from-host\nappended\nvia-link\n");
  EXPECT_TRUE(std::filesystem::is_symlink(vol + "/link")) << "an append through a symlink replaced it";
  EXPECT_EQ(Sh("cat " + vol + "/made-through-dangling").out, "d\n") << "a dangling symlink's target was not created";
  EXPECT_NE(work.out.find("excl-refused"), std::string::npos) << "O_EXCL on an existing name succeeded: " << work.err;
  EXPECT_NE(work.out.find("dir-refused"), std::string::npos) << "a directory was opened to write: " << work.err;
  auto phase = [&id](const std::string& from, const std::string& to) {
    return Sh("sed -n '/name=" + from + "/,/name=" + to + "/p' /run/vc/vm/" + id + "/virtiofsd.log").out;
  };
  std::string creating = phase("create-mark", "read-mark"), reading = phase("read-mark", "end-mark");
  EXPECT_EQ(itest::Run({Runtime(), "delete", "--force", id}, env).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
  auto count = [](const std::string& log, const std::string& op) {
    size_t n = 0;
    for (size_t at = log.find(op); at != std::string::npos; at = log.find(op, at + 1)) n++;
    return n;
  };
  ASSERT_EQ(count(creating, "opcode: CREATE"), size_t{kFiles}) << "no debug log of the volume's requests:\n" << creating;
  EXPECT_EQ(count(creating, ", name=f"), size_t{kFiles}) << "a new name was looked up before its CREATE:\n" << creating;
  EXPECT_EQ(count(creating, "opcode: GETATTR"), 0u) << "the directory was fetched again after a create:\n" << creating;
  ASSERT_GE(count(reading, "opcode: OPEN"), size_t{2 * kFiles}) << "the reads were not logged:\n" << reading;
  EXPECT_LE(count(reading, "opcode: IOCTL"), 1u) << "the guest asked for ioctls again after ENOSYS:\n" << reading;
  EXPECT_EQ(count(reading, "opcode: FLUSH"), 0u) << "closing a file read sent FLUSH:\n" << reading;
}

}  // namespace
}  // namespace kata::itest
