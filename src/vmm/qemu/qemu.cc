#include "vmm/qemu/qemu.h"

#include <linux/capability.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"
#include "vmm/qemu/migration.h"
#include "vmm/qemu/qmp.h"
#include "vmm/share_namespace.h"
#include "vmm/virtiofsd.h"

namespace kata::vmm::qemu {
namespace {

// The last few lines of a log, to put QEMU's own complaint in our error.
std::string Tail(const std::string& path, int max_lines) {
  auto text = fs::ReadFile(path);
  return text.ok() ? TailLines(*text, max_lines) : "";
}

}  // namespace

Qemu::~Qemu() {
  Status unused = Stop(std::chrono::milliseconds(0));
  (void)unused;
}

void Qemu::SetExitCallback(std::function<void(int)> cb) {
  on_exit_ = std::move(cb);
  if (proc_) proc_->OnExit(on_exit_);
}

bool Qemu::Running() const { return !Exited(); }

// What QEMU keeps of root's powers: creating its taps, and with 9p serving
// the share as the guest's root (security_model=none: ownership, modes and
// times of any file in it). Not CAP_MKNOD (no device node the guest makes
// reaches the host), CAP_SETFCAP or CAP_SYS_ADMIN (no file capabilities, no
// trusted xattrs), nor anything else. With virtio-fs, virtiofsd serves the
// files and QEMU keeps only CAP_NET_ADMIN. docs/security.md.
const std::vector<int> kQemuCapabilities9p = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
                                              CAP_FOWNER, CAP_FSETID, CAP_NET_ADMIN};
const std::vector<int> kQemuCapabilitiesVirtioFs = {CAP_NET_ADMIN};

VmmLaunch Qemu::LaunchOf(const std::vector<std::string>& argv, int mount_ns_fd) const {
  VmmLaunch l;
  l.argv = argv;
  l.log_path = qemu_log_;
  l.netns_fd = spec_.netns_fd;
  l.name = "QEMU of sandbox " + spec_.id;
  l.confinement.keep_caps = spec_.virtio_fs.daemon.empty() ? kQemuCapabilities9p : kQemuCapabilitiesVirtioFs;
  l.mount_ns_fd = mount_ns_fd;
  return l;
}

Status Qemu::StartVirtiofsd(int mount_ns_fd) {
  for (int i = 0; i < 2; i++) {
    Export e = i == 0 ? Export::kShared : Export::kPropagated;
    ASSIGN_OR_RETURN(virtiofsd_[i], vmm::StartVirtiofsd(spec_, e, mount_ns_fd, paths_.virtiofsd_socket[i],
                                                        paths_.virtiofsd_log[i]));
    virtiofsd_[i]->OnExit([this, i](int status) { OnVirtiofsdExit(i, status); });
  }
  return Status::Ok();
}

// Runs on virtiofsd's watcher thread. A guest whose share is gone would hang
// on its next file access: stop it, so the sandbox fails as for a VM crash.
void Qemu::OnVirtiofsdExit(int which, int status) {
  if (stopping_ || Exited()) return;
  const std::string& log_path = paths_.virtiofsd_log[which];
  log::Error(std::string(which == 0 ? "virtiofsd" : "virtiofsd (propagated export)") + " of sandbox " + spec_.id +
             " exited with status " + std::to_string(status) +
             " while its VM ran: stopping the VM, whose shared files are gone. " + Tail(log_path, 3) + " (see " +
             log_path + ")");
  proc_->Kill();
}

Status Qemu::Adopt(const VmSpec& spec, pid_t pid) {
  spec_ = spec;
  slots_.assign(HotplugSlotCount(spec), "");
  paths_ = PathsFor(spec);
  qemu_log_ = fs::JoinPath(spec.run_dir, "qemu.log");
  ASSIGN_OR_RETURN(proc_, VmmProcess::Adopt(pid, "QEMU of sandbox " + spec.id));
  proc_->OnExit(on_exit_);
  return Status::Ok();
}

void Qemu::Release() {
  if (proc_) proc_->Release();
  proc_.reset();
}

Status Qemu::StartupError(const std::string& what) const {
  std::string tail = Tail(qemu_log_, 5);
  return Error(Code::kInternal, "QEMU for sandbox " + spec_.id + " " + what +
                                    (tail.empty() ? "" : ": " + tail) + " (see " + qemu_log_ + ")");
}

Status Qemu::Start(const VmSpec& spec) {
  spec_ = spec;
  slots_.assign(HotplugSlotCount(spec), "");
  paths_ = PathsFor(spec);
  qemu_log_ = fs::JoinPath(spec.run_dir, "qemu.log");
  for (const auto& [what, path] : {std::pair{"kernel", spec.kernel}, {"initrd", spec.initrd}}) {
    if (!fs::Exists(path)) {
      return Error(Code::kNotFound, std::string("guest ") + what + " " + path +
                                        " does not exist: build it with guest/build-guest.sh or set " +
                                        "hypervisor.qemu." + what + " in the configuration");
    }
  }
  std::vector<std::string> argv = BuildCommandLine(spec);
  std::string cmdline;
  for (const auto& a : argv) cmdline += a + " ";
  log::Debug("starting QEMU: " + cmdline);
  UniqueFd share_ns;
  if (!spec.share_source_dir.empty()) {
    ASSIGN_OR_RETURN(share_ns, MakeShareNamespace(spec.share_source_dir, spec.shared_dir));
  }
  if (!spec.virtio_fs.daemon.empty()) RETURN_IF_ERROR(StartVirtiofsd(share_ns.get()));
  VmmLaunch launch = LaunchOf(argv, share_ns.get());
  ASSIGN_OR_RETURN(proc_, spec.detached ? VmmProcess::StartDetached(launch) : VmmProcess::StartChild(launch));
  proc_->OnExit(on_exit_);
  // QEMU creates its listening sockets before the guest runs; an early exit
  // means it rejected its command line or could not open a device.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!fs::Exists(paths_.agent_socket)) {
    if (proc_->exited()) {
      return StartupError("exited with status " + std::to_string(proc_->exit_status()) + " during start-up");
    }
    if (std::chrono::steady_clock::now() > deadline) return StartupError("did not create its agent socket in 10 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!spec.restore_state.empty()) return Resume(spec.restore_state);
  return Status::Ok();
}

MemoryGrowth Qemu::GrowMemory(int from_mib, int want_mib) const {
  int to = (want_mib + kMemoryBlockMib - 1) / kMemoryBlockMib * kMemoryBlockMib;
  MemoryGrowth g{MemoryBlockAddresses(spec_, from_mib, to), from_mib};
  if (!g.block_addresses.empty()) {
    g.mib_after = FirstGrowableMib(spec_, from_mib) + static_cast<int>(g.block_addresses.size()) * kMemoryBlockMib;
  }
  return g;
}

Status Qemu::Resume(const std::string& state_path) {
  auto t0 = std::chrono::steady_clock::now();
  auto ms = [](auto a, auto b) { return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count()); };
  QmpClient qmp;
  Status st = qmp.Connect(paths_.qmp_socket, std::chrono::seconds(5));
  auto t1 = std::chrono::steady_clock::now();
  if (st.ok()) st = RestoreState(qmp, state_path, std::chrono::seconds(30));
  if (st.ok()) {
    log::Info("QEMU of sandbox " + spec_.id + " resumed the VM template: QMP " + ms(t0, t1) + " ms, state " +
              ms(t1, std::chrono::steady_clock::now()) + " ms");
    return st;
  }
  // A rejected stream makes QEMU exit: give it the time to say why.
  proc_->WaitExit(std::chrono::milliseconds(500));
  return StartupError("could not resume the VM template state " + state_path + " (" + st.message() + ")");
}

Status Qemu::SaveState(const std::string& path) {
  if (!Running()) return Error(Code::kFailedPrecondition, "QEMU of " + spec_.id + " is not running");
  QmpClient qmp;
  RETURN_IF_ERROR(qmp.Connect(paths_.qmp_socket, std::chrono::seconds(5)));
  return qemu::SaveState(qmp, path, std::chrono::seconds(60)).Wrap("QEMU of " + spec_.id);
}

Status Qemu::Stop(std::chrono::milliseconds timeout) {
  stopping_ = true;
  // SIGKILL rather than QMP "quit": the guest's state is thrown away either
  // way, and the orderly quit cost ~5 ms of QMP handshake plus QEMU's own
  // clean-up. Nothing is lost: guest RAM files are written through their
  // mapping and QEMU's logs are unbuffered. QEMU first, then the virtiofsd
  // it would otherwise see vanish.
  // What remains is the kernel freeing QEMU's memory (~30 ms under TCG after
  // a container ran): with timeout 0 the caller does not wait for it, and the
  // watcher reaps QEMU later (SIGKILL cannot be refused).
  if (proc_) {  // null: never started, or Release()d
    proc_->Kill();
    if (timeout.count() > 0 && !proc_->WaitExit(timeout)) {
      log::Warn("QEMU of sandbox " + spec_.id + " has not exited " + std::to_string(timeout.count()) + " ms after SIGKILL");
    }
  }
  // Always waited for (it has no guest RAM to free): it holds the share.
  for (auto& d : virtiofsd_) {
    if (d) StopVirtiofsd(*d, std::max(timeout, std::chrono::milliseconds(1000)));
  }
  return Status::Ok();
}

}  // namespace kata::vmm::qemu
