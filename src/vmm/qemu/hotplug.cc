// Disk hotplug over QMP (Hypervisor::HotplugDrive, UnplugDrive). The runtime
// opens the disk itself and hands QEMU the open file (add-fd, a fd set),
// so QEMU, confined without CAP_DAC_OVERRIDE in a mount namespace of its
// own, never needs to reach the path. Each disk is a virtio-blk-pci device
// in an empty PCIe root port (command_line.cc); the guest's pciehp driver
// brings it up when QEMU reports it present.
#include <fcntl.h>
#include <unistd.h>

#include <thread>

#include "common/log.h"
#include "common/unique_fd.h"
#include "vmm/qemu/qemu.h"
#include "vmm/qemu/qmp.h"

namespace kata::vmm::qemu {
namespace {

constexpr auto kQmpConnectTimeout = std::chrono::seconds(5);
// How long a guest that was asked to power the disk's slot off gets to do
// it (Linux: ~1 s) before the VMM asks the other way.
constexpr auto kGuestReleaseGrace = std::chrono::seconds(3);

// A fd set per slot: its number is the slot's, plus one (fd set 0 is QEMU's
// "pick one").
int FdSetOf(int slot) { return slot + 1; }

bool InPeripherals(QmpClient& qmp, const std::string& id) {
  auto list = qmp.Execute("qom-list", {{"path", "/machine/peripheral"}});
  if (!list.ok() || !list->is_array()) return false;
  for (const auto& e : *list) {
    if (e.is_object() && e.value("name", "") == id) return true;
  }
  return false;
}

// The drive's size as QEMU sees it (its node's virtual size).
Result<uint64_t> DriveSize(QmpClient& qmp, const std::string& id) {
  ASSIGN_OR_RETURN(nlohmann::json nodes, qmp.Execute("query-named-block-nodes", {{"flat", true}}));
  if (nodes.is_array()) {
    for (const auto& n : nodes) {
      if (!n.is_object() || n.value("node-name", "") != id || !n.contains("image")) continue;
      const auto& size = n["image"]["virtual-size"];
      if (size.is_number_unsigned()) return size.get<uint64_t>();
    }
  }
  return Error(Code::kNotFound, "QEMU has no disk " + id);
}

}  // namespace

Result<int> Qemu::FreeSlot(const std::string& id) const {
  int free = -1;
  for (int i = 0; i < static_cast<int>(slots_.size()); i++) {
    if (slots_[i] == id) return Error(Code::kAlreadyExists, "disk " + id + " is already plugged into " + spec_.id);
    if (slots_[i].empty() && free < 0) free = i;
  }
  if (free >= 0) return free;
  return Error(Code::kResourceExhausted,
               "sandbox " + spec_.id + " has no free disk hotplug slot (it has " + std::to_string(slots_.size()) +
                   "): raise hypervisor.qemu.pcie_root_port in configuration.toml");
}

Status Qemu::HotplugDrive(const Drive& d) {
  std::lock_guard<std::mutex> lock(hotplug_mu_);
  if (!Running()) return Error(Code::kFailedPrecondition, "QEMU of " + spec_.id + " is not running");
  if (slots_.empty()) return Error(Code::kUnimplemented, "sandbox " + spec_.id + " was started without disk hotplug slots");
  ASSIGN_OR_RETURN(int slot, FreeSlot(d.id));
  UniqueFd fd(open(d.path.c_str(), (d.readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return ErrnoError("open disk " + d.path);
  QmpClient qmp;
  RETURN_IF_ERROR(qmp.Connect(paths_.qmp_socket, kQmpConnectTimeout).Wrap("QEMU of " + spec_.id));
  int set = FdSetOf(slot);
  RETURN_IF_ERROR(qmp.ExecuteWithFd("add-fd", {{"fdset-id", set}, {"opaque", d.id}}, fd.get()).status());
  fd.reset();  // QEMU holds its own copy
  nlohmann::json node = {{"driver", d.block_device ? "host_device" : "file"},
                         {"node-name", d.id},
                         {"filename", "/dev/fdset/" + std::to_string(set)},
                         {"read-only", d.readonly}};
  Status st = qmp.Execute("blockdev-add", node).status();
  if (st.ok()) {
    st = qmp.Execute("device_add", {{"driver", "virtio-blk-pci"}, {"id", d.id}, {"drive", d.id}, {"serial", d.serial},
                                    {"bus", HotplugSlotId(slot)}})
             .status();
    if (!st.ok()) (void)qmp.Execute("blockdev-del", {{"node-name", d.id}});
  }
  if (!st.ok()) {
    (void)qmp.Execute("remove-fd", {{"fdset-id", set}});
    return st.Wrap("plug disk " + d.path + " into sandbox " + spec_.id);
  }
  slots_[slot] = d.id;
  return Status::Ok();
}

Status Qemu::UnplugDrive(const std::string& id, std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> lock(hotplug_mu_);
  auto it = std::find(slots_.begin(), slots_.end(), id);
  if (it == slots_.end()) return Error(Code::kNotFound, "disk " + id + " is not plugged into sandbox " + spec_.id);
  int slot = static_cast<int>(it - slots_.begin());
  if (!Running()) {
    *it = "";
    return Status::Ok();  // gone with the VM
  }
  QmpClient qmp;
  RETURN_IF_ERROR(qmp.Connect(paths_.qmp_socket, kQmpConnectTimeout).Wrap("QEMU of " + spec_.id));
  // The guest powering its slot off (the agent does, when the sandbox asks
  // it to let go of the disk) unplugs the device; only a guest that did
  // not gets device_del, which Linux answers 5 s later. The device leaves
  // the tree before QEMU lets go of its disk: the node can be deleted once
  // nothing uses it any more.
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + timeout;
  bool asked = false;
  for (;;) {
    bool plugged = InPeripherals(qmp, id);
    if (plugged && !asked && std::chrono::steady_clock::now() >= start + kGuestReleaseGrace) {
      (void)qmp.Execute("device_del", {{"id", id}});
      asked = true;
    }
    Status st = plugged ? Error(Code::kUnavailable, "still plugged")
                        : qmp.Execute("blockdev-del", {{"node-name", id}}).status();
    if (st.ok()) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error(Code::kDeadlineExceeded, "the guest of sandbox " + spec_.id + " did not let go of disk " + id +
                                                " within " + std::to_string(timeout.count()) + " ms (" + st.message() +
                                                "): it stays attached (and its file open) until the VM stops");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  (void)qmp.Execute("remove-fd", {{"fdset-id", FdSetOf(slot)}});
  *it = "";
  return Status::Ok();
}

// Booted and plugged drives alike are block nodes named by their id.
// block_resize grows an image file through QEMU's open file; a block device
// must already be that large (QEMU refuses to "grow" one, with its reason).
// virtio-blk tells the guest at once (a config change interrupt).
Status Qemu::ResizeDrive(const std::string& id, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(hotplug_mu_);
  if (!Running()) return Error(Code::kFailedPrecondition, "QEMU of " + spec_.id + " is not running");
  QmpClient qmp;
  RETURN_IF_ERROR(qmp.Connect(paths_.qmp_socket, kQmpConnectTimeout).Wrap("QEMU of " + spec_.id));
  // block_resize would as readily cut an image file short, under a mounted
  // file system: only growing is done.
  ASSIGN_OR_RETURN(uint64_t now, DriveSize(qmp, id));
  if (bytes < now) {
    return Error(Code::kInvalidArgument, "disk " + id + " of sandbox " + spec_.id + " is " + std::to_string(now) +
                                             " bytes: disks only grow, not to " + std::to_string(bytes));
  }
  if (bytes == now) return Status::Ok();
  return qmp.Execute("block_resize", {{"node-name", id}, {"size", bytes}})
      .status()
      .Wrap("resize disk " + id + " of sandbox " + spec_.id + " to " + std::to_string(bytes) + " bytes");
}

}  // namespace kata::vmm::qemu
