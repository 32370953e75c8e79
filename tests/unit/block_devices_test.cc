// Block devices without a VM: the host finds the node of a spec's device
// number and gives the VM a disk with our serial; the agent finds that disk
// by serial in (a fake) sysfs and retargets the spec's entry and cgroup rule.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>

#include "agent/block_devices.h"
#include "common/fs.h"
#include "common/fs_at.h"
#include "sandbox/block_devices.h"
#include "sandbox/direct_volume.h"
#include "vmm/qemu/command_line.h"
#include "wait_until.h"

namespace kata {
namespace {

class TempTree {
 public:
  TempTree() {
    char tmpl[] = "/tmp/kata-blk-test.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~TempTree() { (void)fs::RemoveTreeNoFollow(dir_); }
  void Write(const std::string& rel, const std::string& text) {
    ASSERT_TRUE(fs::MkdirAll(fs::Dirname(dir_ + "/" + rel), 0755).ok());
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ + "/" + rel, text).ok());
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

nlohmann::json SpecWithLoop() {
  return nlohmann::json::parse(R"({"linux": {
      "devices": [{"path": "/dev/xvdc", "type": "b", "major": 7, "minor": 5},
                  {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}],
      "resources": {"devices": [{"allow": false, "access": "rwm"},
                                {"allow": true, "type": "b", "major": 7, "minor": 5, "access": "rwm"}]}}})");
}

TEST(HostBlockDevices, NodeFromTheDeviceNumber) {
  TempTree sys;
  sys.Write("7:5/uevent", "MAJOR=7\nMINOR=5\nDEVNAME=loop5\nDEVTYPE=disk\n");
  auto d = sandbox::BlockDevicesOf(SpecWithLoop(), sys.dir());
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->size(), 1u);  // the char device is not a disk
  EXPECT_EQ((*d)[0].host_path, "/dev/loop5");
  EXPECT_EQ((*d)[0].container_path, "/dev/xvdc");
  auto drives = sandbox::DrivesFor(*d);
  ASSERT_TRUE(drives.ok());
  ASSERT_EQ(drives->size(), 1u);
  EXPECT_EQ((*drives)[0].serial, "kata-blk-0");
  EXPECT_LE((*drives)[0].serial.size(), 20u);  // virtio-blk's serial field
  std::vector<sandbox::HostBlockDevice> many(sandbox::kMaxDisks + 1, (*d)[0]);
  auto too_many = sandbox::DrivesFor(many);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.status().message().find("at most 8 disks"), std::string::npos) << too_many.status().message();
}

TEST(HostBlockDevices, UnknownNumberIsAnErrorNamingTheEntry) {
  TempTree sys;
  auto d = sandbox::BlockDevicesOf(SpecWithLoop(), sys.dir());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("linux.devices /dev/xvdc"), std::string::npos) << d.status().message();
  EXPECT_NE(d.status().message().find("no block device 7:5"), std::string::npos) << d.status().message();
}

// `--privileged` lists every host device (its disks too) and allows all:
// none of them is given to the VM.
TEST(HostBlockDevices, PrivilegedSpecGivesNoHostDisk) {
  TempTree sys;
  sys.Write("7:5/uevent", "DEVNAME=loop5\n");
  nlohmann::json spec = SpecWithLoop();
  spec["linux"]["resources"]["devices"] = nlohmann::json::parse(R"([{"allow": true, "access": "rwm"}])");
  auto d = sandbox::BlockDevicesOf(spec, sys.dir());
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->empty());
}

TEST(HostBlockDevices, QemuDiskArgs) {
  vmm::VmSpec s;
  s.machine_type = "microvm";
  s.drives = {{"blk0", "/dev/loop5", "kata-blk-0", true, false}, {"blk1", "/img/disk.raw", "kata-blk-1", false, true}};
  auto argv = vmm::qemu::BuildCommandLine(s);
  auto has = [&argv](const std::string& a) { return std::find(argv.begin(), argv.end(), a) != argv.end(); };
  EXPECT_TRUE(has("driver=host_device,node-name=blk0,filename=/dev/loop5"));
  EXPECT_TRUE(has("virtio-blk-device,drive=blk0,serial=kata-blk-0"));
  EXPECT_TRUE(has("driver=file,node-name=blk1,filename=/img/disk.raw,read-only=on"));
}

TEST(GuestBlockDevices, FoundBySerialAndRetargeted) {
  TempTree sys;
  sys.Write("vda/serial", "kata-blk-9\n");
  sys.Write("vda/dev", "254:0\n");
  sys.Write("vdb/serial", "kata-blk-0\n");
  sys.Write("vdb/dev", "254:16\n");
  auto disk = agent::FindDiskBySerial("kata-blk-0", sys.dir(), 0);
  ASSERT_TRUE(disk.ok()) << disk.status().message();
  EXPECT_EQ(disk->name, "vdb");
  auto out = agent::WithGuestBlockDevices(SpecWithLoop().dump(), {{"kata-blk-0", "/dev/xvdc", 7, 5}}, sys.dir(), 0);
  ASSERT_TRUE(out.ok()) << out.status().message();
  nlohmann::json spec = nlohmann::json::parse(*out);
  EXPECT_EQ(spec["linux"]["devices"][0]["major"], 254);
  EXPECT_EQ(spec["linux"]["devices"][0]["minor"], 16);
  EXPECT_EQ(spec["linux"]["devices"][1]["major"], 10);  // untouched
  EXPECT_EQ(spec["linux"]["resources"]["devices"][1]["major"], 254);
  EXPECT_EQ(spec["linux"]["resources"]["devices"][1]["minor"], 16);
}

TEST(GuestBlockDevices, MissingDiskSaysWhich) {
  TempTree sys;
  sys.Write("vda/serial", "other\n");
  auto out = agent::WithGuestBlockDevices(SpecWithLoop().dump(), {{"kata-blk-0", "/dev/xvdc", 7, 5}}, sys.dir(), 50);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("no disk with serial kata-blk-0"), std::string::npos) << out.status().message();
}

// Hotplug slots: PCIe root ports; microvm gets its PCIe bus and the
// guest kernel the native port services (no _OSC in microvm's ACPI).
TEST(DiskHotplug, SlotsOnTheCommandLine) {
  vmm::VmSpec s;
  s.machine_type = "microvm";
  s.hotplug_slots = 2;
  auto argv = vmm::qemu::BuildCommandLine(s);
  auto has = [&argv](const std::string& a) { return std::find(argv.begin(), argv.end(), a) != argv.end(); };
  auto machine = std::find(argv.begin(), argv.end(), "-machine");
  ASSERT_NE(machine, argv.end());
  EXPECT_EQ(machine[1].rfind("microvm,pcie=on", 0), 0u) << machine[1];
  EXPECT_TRUE(has("pcie-root-port,id=kata-slot0,bus=pcie.0,chassis=1,slot=1"));
  EXPECT_TRUE(has("pcie-root-port,id=kata-slot1,bus=pcie.0,chassis=1,slot=2"));
  auto append = std::find(argv.begin(), argv.end(), "-append");
  ASSERT_NE(append, argv.end());
  EXPECT_NE(append[1].find("pcie_ports=native"), std::string::npos) << append[1];
  s.machine_type = "pc";  // i440fx: no PCIe, no slots
  argv = vmm::qemu::BuildCommandLine(s);
  machine = std::find(argv.begin(), argv.end(), "-machine");
  EXPECT_EQ(machine[1].find("pcie"), std::string::npos) << machine[1];
  EXPECT_EQ(std::count_if(argv.begin(), argv.end(), [](const std::string& a) { return a.find("pcie-root-port") == 0; }), 0);
  EXPECT_EQ(vmm::qemu::HotplugSlotCount(s), 0);
}

// The guest side of an unplug: the disk's slot is found through its PCI
// function and powered off; a mounted disk, or one not in a slot (a boot
// disk on virtio-mmio), is refused by name.
TEST(DiskHotplug, GuestPowersOffTheSlotOfAnUnmountedDisk) {
  TempTree sys;
  std::string pci = "devices/pci0000:00/0000:00:01.0/0000:01:00.0/virtio3/block/vda";
  sys.Write(pci + "/serial", "kata-hp-0\n");
  sys.Write(pci + "/dev", "252:0\n");
  std::string mmio = "devices/platform/virtio-mmio.1/virtio1/block/vdb";
  sys.Write(mmio + "/serial", "kata-vol-0\n");
  sys.Write(mmio + "/dev", "254:0\n");
  ASSERT_TRUE(fs::MkdirAll(sys.dir() + "/block", 0755).ok());
  ASSERT_EQ(symlink(("../" + pci).c_str(), (sys.dir() + "/block/vda").c_str()), 0);
  ASSERT_EQ(symlink(("../" + mmio).c_str(), (sys.dir() + "/block/vdb").c_str()), 0);
  sys.Write("slots/1/address", "0000:01:00\n");
  sys.Write("slots/1/power", "1\n");
  sys.Write("mountinfo", "22 1 0:5 / /dev rw - devtmpfs dev rw\n");
  sys.Write("mountinfo-busy", "40 22 252:0 / /run/kata-containers/sandbox/storage/c/kata-hp-0 rw - ext4 /dev/vda rw\n");
  std::string block = sys.dir() + "/block", slots = sys.dir() + "/slots";
  Status busy = agent::PowerOffDiskSlot("kata-hp-0", block, slots, sys.dir() + "/mountinfo-busy");
  EXPECT_NE(busy.message().find("disk kata-hp-0 (vda) is still mounted"), std::string::npos) << busy.message();
  EXPECT_EQ(fs::ReadFile(slots + "/1/power").value_or(""), "1\n");
  Status ok = agent::PowerOffDiskSlot("kata-hp-0", block, slots, sys.dir() + "/mountinfo");
  ASSERT_TRUE(ok.ok()) << ok.message();
  // The power-off runs on a thread of its own (Linux holds the write ~1 s).
  EXPECT_TRUE(test_util::WaitUntil(
      [&] { return fs::ReadFile(slots + "/1/power").value_or("").substr(0, 1) == "0"; }, std::chrono::seconds(2)));
  Status boot = agent::PowerOffDiskSlot("kata-vol-0", block, slots, sys.dir() + "/mountinfo");
  EXPECT_NE(boot.message().find("is not a disk on PCI"), std::string::npos) << boot.message();
  Status none = agent::PowerOffDiskSlot("kata-hp-7", block, slots, sys.dir() + "/mountinfo");
  EXPECT_NE(none.message().find("no disk with serial kata-hp-7"), std::string::npos) << none.message();
}

// Kata's layout: <root>/<base64url(path)>/mountInfo.json; a bind of the
// volume path becomes a disk mount, other mounts stay shared.
TEST(DirectVolumes, RegisteredPathBecomesADiskMount) {
  TempTree t;
  t.Write("disk.img", "not really ext4, but a regular file");
  std::string root = t.dir() + "/dv";
  std::string info = "{\"device\": \"" + t.dir() + "/disk.img\", \"fs_type\": \"ext4\", \"options\": [\"noatime\"]}";
  ASSERT_TRUE(sandbox::AddDirectVolume("/k/vol", info, root).ok());
  EXPECT_EQ(sandbox::DirectVolumeDir("/k/vol", root), root + "/L2svdm9s");
  EXPECT_TRUE(fs::Exists(root + "/L2svdm9s/mountInfo.json"));
  nlohmann::json spec = nlohmann::json::parse(R"({"mounts": [
      {"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts", "options": ["rbind"]},
      {"destination": "/data", "type": "bind", "source": "/k/vol", "options": ["rbind", "ro"]}]})");
  auto m = sandbox::BlockMountsOf(spec, root);
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].index, 1u);
  EXPECT_EQ((*m)[0].fstype, "ext4");
  EXPECT_FALSE((*m)[0].block_device);
  EXPECT_TRUE((*m)[0].readonly);
  EXPECT_EQ((*m)[0].options, std::vector<std::string>{"noatime"});
  auto drives = sandbox::DrivesFor({}, *m);
  ASSERT_TRUE(drives.ok());
  ASSERT_EQ(drives->size(), 1u);
  EXPECT_EQ((*drives)[0].serial, "kata-vol-0");
  EXPECT_TRUE((*drives)[0].readonly);
  ASSERT_TRUE(sandbox::RemoveDirectVolume("/k/vol", root).ok());
  EXPECT_TRUE(sandbox::BlockMountsOf(spec, root)->empty());
}

TEST(DirectVolumes, BadMountInfoIsRefusedByName) {
  TempTree t;
  std::string root = t.dir() + "/dv";
  auto bad = [&](const std::string& info) { return sandbox::AddDirectVolume("/k/v", info, root).message(); };
  EXPECT_NE(bad("not json").find("not a JSON object"), std::string::npos);
  EXPECT_NE(bad("{\"device\": \"rel/path\", \"fs_type\": \"ext4\"}").find("absolute path"), std::string::npos);
  EXPECT_NE(bad("{\"device\": \"" + t.dir() + "\", \"fs_type\": \"ext4\"}").find("neither a block device"), std::string::npos);
  EXPECT_NE(sandbox::AddDirectVolume("relative", "{}", root).message().find("--volume-path"), std::string::npos);
  EXPECT_NE(sandbox::RemoveDirectVolume("/k/none", root).message().find("no direct volume"), std::string::npos);
}

// The host says where to mount; the agent keeps it below the container's
// own storage directory and to ext4/xfs.
TEST(GuestBlockVolumes, PathsAndFileSystemsAreChecked) {
  TempTree sys;
  auto st = agent::MountBlockVolumes("c1", {{"kata-vol-0", "ext4", {}, false, "/elsewhere/x"}}, "/st", sys.dir(), "/dev", 0);
  EXPECT_NE(st.message().find("is not below /st/c1/"), std::string::npos) << st.message();
  st = agent::MountBlockVolumes("c1", {{"kata-vol-0", "ext4", {}, false, "/st/c1/../c2"}}, "/st", sys.dir(), "/dev", 0);
  EXPECT_FALSE(st.ok());
  st = agent::MountBlockVolumes("c1", {{"kata-vol-0", "vfat", {}, false, "/st/c1/kata-vol-0"}}, "/st", sys.dir(), "/dev", 0);
  EXPECT_NE(st.message().find("not ext4 or xfs"), std::string::npos) << st.message();
  st = agent::MountBlockVolumes("c1", {{"kata-vol-0", "ext4", {}, false, "/st/c1/kata-vol-0"}}, "/st", sys.dir(), "/dev", 0);
  EXPECT_NE(st.message().find("no disk with serial kata-vol-0"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace kata

namespace kata {
namespace {

TEST(IsBlockVolumePath, ExactlyStorageContainerName) {
  std::string owner;
  EXPECT_TRUE(agent::IsBlockVolumePath("/st/c1/kata-vol-0", "/st", &owner));
  EXPECT_EQ(owner, "c1");
  for (const char* bad : {"/st", "/st/", "/st/c1", "/st/c1/", "/st/c1/a/b", "/st/../c1/x", "/st/c1/..", "/st/./x",
                          "/st//x", "/stx/c1/x", "/elsewhere/c1/x"}) {
    EXPECT_FALSE(agent::IsBlockVolumePath(bad, "/st")) << bad;
  }
}

}  // namespace
}  // namespace kata
