#include "sandbox/block_devices.h"

#include <sstream>

#include <algorithm>
#include <optional>

#include "common/fs.h"
#include "sandbox/direct_volume.h"

namespace kata::sandbox {
namespace {

// DEVNAME from the device's uevent: its node below /dev.
Result<std::string> HostNode(unsigned major, unsigned minor, const std::string& sys_dev_block) {
  std::string number = std::to_string(major) + ":" + std::to_string(minor);
  auto uevent = fs::ReadFile(sys_dev_block + "/" + number + "/uevent");
  if (!uevent.ok()) return Error(Code::kNotFound, "the host has no block device " + number);
  std::istringstream in(*uevent);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("DEVNAME=", 0) != 0) continue;
    std::string name = line.substr(8);
    // It goes on QEMU's command line, where a comma separates options.
    if (name.empty() || name.find_first_of(",\n") != std::string::npos || name.find("..") != std::string::npos) break;
    return "/dev/" + name;
  }
  return Error(Code::kNotFound, "block device " + number + " has no usable name in " + sys_dev_block);
}

// A privileged container's spec lists every host device and allows all
// (a rule with no type or "a" and no numbers): handing the host's disks to
// the guest is never what that means for a VM (Kata's advice is containerd's
// privileged_without_host_devices); they stay on the host.
bool AllowsAllDevices(const nlohmann::json& lx) {
  if (!lx.contains("resources") || !lx["resources"].is_object() || !lx["resources"].contains("devices")) return false;
  for (const auto& r : lx["resources"]["devices"]) {
    if (!r.is_object() || !r.value("allow", false)) continue;
    std::string type = r.contains("type") && r["type"].is_string() ? r["type"].get<std::string>() : "a";
    bool any_number = (!r.contains("major") || r["major"].is_null() || r["major"] == -1) &&
                      (!r.contains("minor") || r["minor"].is_null() || r["minor"] == -1);
    if (type == "a" && any_number) return true;
  }
  return false;
}

}  // namespace

Result<std::vector<HostBlockDevice>> BlockDevicesOf(const nlohmann::json& spec, const std::string& sys_dev_block) {
  std::vector<HostBlockDevice> out;
  if (!spec.contains("linux") || !spec["linux"].is_object() || !spec["linux"].contains("devices")) return out;
  if (AllowsAllDevices(spec["linux"])) return out;
  for (const auto& d : spec["linux"]["devices"]) {
    if (!d.is_object() || d.value("type", "") != "b") continue;
    HostBlockDevice b;
    b.container_path = d.value("path", "");
    if (!d.contains("major") || !d.contains("minor") || !d["major"].is_number_unsigned() || !d["minor"].is_number_unsigned()) {
      return Error(Code::kInvalidArgument, "linux.devices " + b.container_path + ": a block device needs major and minor");
    }
    b.major = d["major"].get<unsigned>();
    b.minor = d["minor"].get<unsigned>();
    auto node = HostNode(b.major, b.minor, sys_dev_block);
    if (!node.ok()) return Error(node.status().code(), "linux.devices " + b.container_path + ": " + node.status().message());
    b.host_path = *node;
    out.push_back(b);
  }
  return out;
}

bool IsGuestBlockMount(const std::string& type, const std::string& source) {
  return (type == "ext4" || type == "xfs") && fs::IsBlockDevice(source);
}

Result<std::vector<HostBlockMount>> BlockMountsOf(const nlohmann::json& spec, const std::string& direct_volume_root) {
  std::vector<HostBlockMount> out;
  if (!spec.contains("mounts") || !spec["mounts"].is_array()) return out;
  const nlohmann::json& mounts = spec["mounts"];
  for (size_t i = 0; i < mounts.size(); i++) {
    const nlohmann::json& m = mounts[i];
    if (!m.is_object() || !m.contains("source") || !m["source"].is_string()) continue;
    std::string source = m["source"].get<std::string>(), type = m.value("type", "");
    std::vector<std::string> options;
    if (m.contains("options") && m["options"].is_array()) {
      for (const auto& o : m["options"]) {
        if (o.is_string()) options.push_back(o.get<std::string>());
      }
    }
    bool ro = std::find(options.begin(), options.end(), "ro") != options.end();
    if (source.empty() || source[0] != '/') continue;
    ASSIGN_OR_RETURN(std::optional<DirectVolume> dv, FindDirectVolume(source, direct_volume_root));
    if (dv) {
      out.push_back({i, dv->device, fs::IsBlockDevice(dv->device), dv->fs_type, dv->options, ro, source});
    } else if (IsGuestBlockMount(type, source)) {
      std::vector<std::string> kept;
      for (const std::string& o : options) {
        if (o != "ro" && o != "rw") kept.push_back(o);
      }
      out.push_back({i, source, true, type, kept, ro, ""});
    }
  }
  return out;
}

Result<std::vector<vmm::Drive>> DrivesFor(const std::vector<HostBlockDevice>& devices,
                                          const std::vector<HostBlockMount>& mounts, const RootfsSource& rootfs) {
  std::optional<vmm::Drive> root = RootfsDrive(rootfs);
  if (devices.size() + mounts.size() + (root ? 1 : 0) > kMaxDisks) {
    return Error(Code::kInvalidArgument, "the container names " + std::to_string(devices.size()) +
                                             " block devices and " + std::to_string(mounts.size()) +
                                             " block volumes: a VM takes at most " + std::to_string(kMaxDisks) + " disks");
  }
  std::vector<vmm::Drive> out;
  for (size_t i = 0; i < devices.size(); i++) {
    out.push_back({"blk" + std::to_string(i), devices[i].host_path, "kata-blk-" + std::to_string(i), true, false});
  }
  for (size_t i = 0; i < mounts.size(); i++) {
    out.push_back({"vol" + std::to_string(i), mounts[i].host_path, "kata-vol-" + std::to_string(i),
                   mounts[i].block_device, mounts[i].readonly});
  }
  if (root) out.push_back(*root);
  return out;
}

}  // namespace kata::sandbox
