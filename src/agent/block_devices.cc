#include "agent/block_devices.h"

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/log.h"
#include "common/mountinfo.h"
#include "common/strings.h"

namespace kata::agent {
namespace {

Result<GuestDisk> ScanOnce(const std::string& serial, const std::string& sys_block) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs::ListDir(sys_block));
  for (const std::string& name : names) {
    if (name.rfind("vd", 0) != 0) continue;
    auto s = fs::ReadFile(sys_block + "/" + name + "/serial");
    if (!s.ok() || Trim(*s) != serial) continue;
    auto dev = fs::ReadFile(sys_block + "/" + name + "/dev");
    GuestDisk disk{name};
    if (!dev.ok() || std::sscanf(dev->c_str(), "%u:%u", &disk.major, &disk.minor) != 2) {
      return Error(Code::kInternal, "disk " + name + " (serial " + serial + ") has no readable device number");
    }
    return disk;
  }
  return Error(Code::kNotFound, "no disk with serial " + serial + " in " + sys_block);
}

bool Names(const nlohmann::json& rule, unsigned major, unsigned minor) {
  return rule.is_object() && rule.value("type", "") == "b" && rule.contains("major") && rule.contains("minor") &&
         rule["major"].is_number_integer() && rule["minor"].is_number_integer() &&
         rule["major"].get<long long>() == major && rule["minor"].get<long long>() == minor;
}

void Retarget(nlohmann::json& spec, const BlockDeviceRef& ref, const GuestDisk& disk) {
  nlohmann::json& lx = spec["linux"];
  if (lx.contains("devices") && lx["devices"].is_array()) {
    for (auto& d : lx["devices"]) {
      if (d.is_object() && d.value("path", "") == ref.container_path) {
        d["major"] = disk.major;
        d["minor"] = disk.minor;
      }
    }
  }
  if (!lx.contains("resources") || !lx["resources"].is_object() || !lx["resources"].contains("devices")) return;
  for (auto& rule : lx["resources"]["devices"]) {
    if (Names(rule, ref.host_major, ref.host_minor)) {
      rule["major"] = disk.major;
      rule["minor"] = disk.minor;
    }
  }
}

// The disk's PCI function from its sysfs path (.../0000:01:00.0/virtio0/
// block/vda): the component before the virtio device's.
Result<std::string> PciFunctionOf(const std::string& sys_disk) {
  char* real = realpath(sys_disk.c_str(), nullptr);
  if (real == nullptr) return ErrnoError("resolve " + sys_disk);
  std::string path = real;
  free(real);
  std::vector<std::string> parts;
  std::istringstream in(path);
  for (std::string part; std::getline(in, part, '/');) parts.push_back(part);
  for (size_t i = 1; i < parts.size(); i++) {
    const std::string& fn = parts[i - 1];
    unsigned dom, bus, dev, f;
    char tail;
    if (parts[i].rfind("virtio", 0) == 0 &&
        std::sscanf(fn.c_str(), "%4x:%2x:%2x.%1u%c", &dom, &bus, &dev, &f, &tail) == 4) {
      return fn;
    }
  }
  return Error(Code::kFailedPrecondition, sys_disk + " is not a disk on PCI (" + path + ")");
}

bool IsMounted(const GuestDisk& disk, const std::string& mountinfo) {
  auto text = fs::ReadFile(mountinfo);
  if (!text.ok()) return false;
  std::string number = std::to_string(disk.major) + ":" + std::to_string(disk.minor);
  const std::vector<MountInfo> mounts = ParseMountInfo(*text);
  return std::any_of(mounts.begin(), mounts.end(), [&](const MountInfo& m) { return m.dev == number; });
}

// The slot directory (below `sys_slots`) whose address is `slot_address`.
Result<std::string> SlotDirOf(const std::string& slot_address, const std::string& sys_slots) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs::ListDir(sys_slots));
  for (const std::string& name : names) {
    auto address = fs::ReadFile(sys_slots + "/" + name + "/address");
    if (address.ok() && Trim(*address) == slot_address) return sys_slots + "/" + name;
  }
  return Error(Code::kFailedPrecondition, "no hotplug slot has address " + slot_address);
}

}  // namespace

Status PowerOffDiskSlot(const std::string& serial, const std::string& sys_block, const std::string& sys_slots,
                        const std::string& mountinfo) {
  ASSIGN_OR_RETURN(GuestDisk disk, ScanOnce(serial, sys_block));
  if (IsMounted(disk, mountinfo)) {
    return Error(Code::kFailedPrecondition, "disk " + serial + " (" + disk.name + ") is still mounted in the guest");
  }
  ASSIGN_OR_RETURN(std::string function, PciFunctionOf(sys_block + "/" + disk.name));
  std::string slot_address = function.substr(0, function.rfind('.'));
  auto slot = SlotDirOf(slot_address, sys_slots);
  if (!slot.ok()) return Error(slot.status().code(), "disk " + serial + " (" + function + "): " + slot.status().message());
  // Linux holds the write for a second after the power goes (the PCIe
  // spec's wait) before it turns the power indicator off, which is when QEMU
  // unplugs: the host waits for that, so disks go in parallel.
  std::thread([power = *slot + "/power", serial] {
    Status st = fs::WriteExisting(power, "0");
    if (!st.ok()) log::Warn("power off the slot of disk " + serial + ": " + st.message());
  }).detach();
  return Status::Ok();
}

Result<GuestDisk> FindDiskBySerial(const std::string& serial, const std::string& sys_block, int wait_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    Result<GuestDisk> d = ScanOnce(serial, sys_block);
    if (d.ok() || d.status().code() != Code::kNotFound || std::chrono::steady_clock::now() >= deadline) return d;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Result<std::string> WithGuestBlockDevices(const std::string& spec_json, const std::vector<BlockDeviceRef>& refs,
                                          const std::string& sys_block, int wait_ms) {
  if (refs.empty()) return spec_json;
  nlohmann::json spec = nlohmann::json::parse(spec_json, nullptr, false);
  if (!spec.is_object() || !spec.contains("linux") || !spec["linux"].is_object()) {
    return Error(Code::kInvalidArgument, "block devices for a spec without a linux object");
  }
  for (const BlockDeviceRef& ref : refs) {
    ASSIGN_OR_RETURN(GuestDisk disk, FindDiskBySerial(ref.serial, sys_block, wait_ms));
    Retarget(spec, ref, disk);
  }
  return spec.dump();
}

namespace {

// mount(8)'s words that are flags, not the file system's data (ext4 and xfs
// refuse them as data). Those that loosen what the agent sets (suid, dev,
// exec on a volume) are dropped: the agent decides those.
std::string MountData(const std::vector<std::string>& options, unsigned long* flags) {
  static const std::map<std::string, unsigned long> kSet = {
      {"ro", MS_RDONLY},         {"noatime", MS_NOATIME}, {"nodiratime", MS_NODIRATIME}, {"relatime", MS_RELATIME},
      {"strictatime", MS_STRICTATIME}, {"noexec", MS_NOEXEC}, {"nosuid", MS_NOSUID},   {"nodev", MS_NODEV},
      {"sync", MS_SYNCHRONOUS},   {"dirsync", MS_DIRSYNC}, {"lazytime", MS_LAZYTIME}};
  static const std::set<std::string> kIgnored = {"rw", "suid", "dev", "exec", "async", "atime", "diratime", "defaults"};
  std::string data;
  for (const std::string& o : options) {
    if (auto f = kSet.find(o); f != kSet.end()) {
      *flags |= f->second;
    } else if (!kIgnored.count(o)) {
      data += (data.empty() ? "" : ",") + o;
    }
  }
  return data;
}

}  // namespace

bool IsBlockVolumePath(const std::string& guest_path, const std::string& storage_dir, std::string* container) {
  std::string prefix = storage_dir + "/";
  if (guest_path.size() <= prefix.size() || guest_path.compare(0, prefix.size(), prefix) != 0) return false;
  std::string rest = guest_path.substr(prefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string::npos) return false;
  std::string owner = rest.substr(0, slash), name = rest.substr(slash + 1);
  auto plain = [](const std::string& c) { return !c.empty() && c != "." && c != ".." && c.find('/') == std::string::npos; };
  if (!plain(owner) || !plain(name)) return false;
  if (container) *container = owner;
  return true;
}

Status MountBlockVolumes(const std::string& container_id, const std::vector<BlockMountRef>& mounts,
                         const std::string& storage_dir, const std::string& sys_block, const std::string& dev_dir,
                         int wait_ms) {
  for (const BlockMountRef& m : mounts) {
    std::string owner;
    if (!IsBlockVolumePath(m.guest_path, storage_dir, &owner) || owner != container_id) {
      return Error(Code::kInvalidArgument, "block volume " + m.serial + ": guest path " + m.guest_path + " is not below " +
                                               storage_dir + "/" + container_id + "/");
    }
    if (m.fstype != "ext4" && m.fstype != "xfs") {
      return Error(Code::kInvalidArgument, "block volume " + m.serial + ": file system \"" + m.fstype + "\" is not ext4 or xfs");
    }
    ASSIGN_OR_RETURN(GuestDisk disk, FindDiskBySerial(m.serial, sys_block, wait_ms));
    RETURN_IF_ERROR(fs::MkdirAll(m.guest_path, 0700));
    unsigned long flags = (m.root ? 0 : MS_NOSUID | MS_NODEV) | (m.readonly ? MS_RDONLY : 0);
    std::string data = MountData(m.options, &flags);
    std::string dev = dev_dir + "/" + disk.name;
    if (mount(dev.c_str(), m.guest_path.c_str(), m.fstype.c_str(), flags, data.empty() ? nullptr : data.c_str()) != 0) {
      return ErrnoError("block volume " + m.serial + ": mount " + dev + " (" + m.fstype + ") on " + m.guest_path);
    }
  }
  return Status::Ok();
}

void UnmountBlockVolumes(const std::string& container_id, const std::string& storage_dir) {
  std::string dir = storage_dir + "/" + container_id;
  auto names = fs::ListDir(dir);
  if (!names.ok()) return;  // nothing there: nothing to do
  for (const std::string& n : *names) {
    std::string p = dir + "/" + n;
    // A plain unmount writes the file system back before the VM may be
    // killed; lazily only if something still holds it.
    if (umount2(p.c_str(), 0) != 0) umount2(p.c_str(), MNT_DETACH);
    rmdir(p.c_str());
  }
  rmdir(dir.c_str());
}

}  // namespace kata::agent
