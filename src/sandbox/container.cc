#include "sandbox/container.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/fs.h"
#include "common/log.h"
#include "oci/spec_json.h"
#include "sandbox/block_devices.h"
#include "sandbox/guest_spec.h"
#include "sandbox/paths.h"
#include "sandbox/readonly_root.h"

namespace kata::sandbox {
namespace {

// A disk the agent mounts below the container's storage directory.
grpc::BlockMount DiskMount(const std::string& container_id, const std::string& serial, const std::string& fstype,
                           bool readonly) {
  grpc::BlockMount b;
  b.set_serial(serial);
  b.set_fstype(fstype);
  b.set_readonly(readonly);
  b.set_guest_path(std::string(kGuestStorageDir) + "/" + container_id + "/" + serial);
  return b;
}

bool HasOption(const nlohmann::json& mount, const std::string& opt) {
  if (!mount.contains("options") || !mount["options"].is_array()) return false;
  for (const auto& o : mount["options"])
    if (o.is_string() && o.get<std::string>() == opt) return true;
  return false;
}

}  // namespace

HookState Container::StateForHooks(const char* status) const {
  // The VMM is the host process that stands for the container: its
  // namespaces are the ones a host hook (e.g. networking) would enter.
  return HookState{id_, status, sb_.vmm_pid(), bundle_, annotations_};
}

// The guest sees the share at kGuestSharedDir: bind the rootfs and every
// host bind-mount source into it (sandbox/share.h) and point the spec there.
// A read-only root or `ro` volume is read-only on the host side too: the
// guest's kernel is not trusted to honour the flag.
Status Container::ShareFiles(nlohmann::json& spec) {
  std::string rootfs = HostRootfsPath(spec, bundle_);
  bool readonly_root = spec["root"].is_object() && spec["root"].value("readonly", false);
  // (The guest makes the mount points in a block rootfs itself.)
  if (readonly_root && !rootfs_.block) RETURN_IF_ERROR(PrepareReadonlyRoot(rootfs, spec));
  const Share& share = sb_.share();
  // With the image as a disk only the upper directory goes through the
  // share, read-only: the container's writes stay in the guest. A block
  // rootfs is the agent's mount (AttachBlockRootfs set root.path).
  if (rootfs_.image) {
    RETURN_IF_ERROR(share.Bind(sb_.vmm_pid(), rootfs_.image->upper, id_ + "/rootfs", true));
  } else if (!rootfs_.block) {
    RETURN_IF_ERROR(share.Bind(sb_.vmm_pid(), rootfs, id_ + "/rootfs", readonly_root));
  }
  if (!rootfs_.block) spec["root"]["path"] = std::string(kGuestSharedDir) + "/" + id_ + "/rootfs";
  AdaptSpecForGuest(spec, GuestSpecContext{sb_.vmm_pid(), id_ == sb_.id(), sb_.guest_seccomp()});
  if (!spec.contains("mounts")) return Status::Ok();
  int n = 0;
  for (size_t i = 0; i < spec["mounts"].size(); i++) {
    if (disk_mounts_.count(i)) continue;  // the guest mounts its disk (AttachDisks)
    nlohmann::json& m = spec["mounts"][i];
    bool is_bind = m.value("type", "") == "bind" || HasOption(m, "bind") || HasOption(m, "rbind");
    if (!is_bind || !m.contains("source")) continue;
    std::string src = m["source"].get<std::string>();
    if (src.empty() || src[0] != '/') src = fs::JoinPath(bundle_, src);
    std::string name = ShareNameForMount(n++, src);
    // A volume is the caller's path (it takes part in the host's mount
    // propagation there); one inside the bundle may be below the rootfs
    // the service mounted itself.
    bool in_bundle = src == bundle_ || src.rfind(bundle_ + "/", 0) == 0;
    Share::From from = in_bundle ? Share::From::kOwnNamespace : Share::From::kCallerNamespace;
    RETURN_IF_ERROR(share.Bind(sb_.vmm_pid(), src, id_ + "/" + name, HasOption(m, "ro"), from));
    // A volume that receives the host's later mounts goes through the
    // share's uncached export, which pins none of them (guest_paths.h).
    bool bidirectional = HasOption(m, "rshared") || HasOption(m, "shared");
    bool propagated = !in_bundle && sb_.has_propagated_share() &&
                      (bidirectional || HasOption(m, "rslave") || HasOption(m, "slave"));
    m["source"] = std::string(propagated ? kGuestPropagatedDir : kGuestSharedDir) + "/" + id_ + "/" + name;
    // Bidirectional: what the container mounts there appears on the host.
    if (!in_bundle && bidirectional && m.contains("destination")) {
      shared_volumes_.push_back({m["destination"].get<std::string>(), src});
    }
  }
  return Status::Ok();
}

Result<Container::GuestDisks> Container::AttachDisks(nlohmann::json& spec) {
  GuestDisks out;
  ASSIGN_OR_RETURN(std::vector<HostBlockDevice> devices, BlockDevicesOf(spec));
  for (const HostBlockDevice& d : devices) {
    auto serial = sb_.DiskFor(id_, d.host_path, true, false);
    if (!serial.ok()) return serial.status().Wrap("linux.devices " + d.container_path);
    grpc::BlockDevice b;
    b.set_serial(*serial);
    b.set_container_path(d.container_path);
    b.set_host_major(d.major);
    b.set_host_minor(d.minor);
    out.devices.push_back(b);
  }
  ASSIGN_OR_RETURN(std::vector<HostBlockMount> mounts, BlockMountsOf(spec));
  for (const HostBlockMount& m : mounts) {
    nlohmann::json& entry = spec["mounts"][m.index];
    std::string dest = entry.value("destination", "");
    auto plugged = sb_.DiskFor(id_, m.host_path, m.block_device, m.readonly);
    if (!plugged.ok()) return plugged.status().Wrap("mount " + dest);
    grpc::BlockMount b = DiskMount(id_, *plugged, m.fstype, m.readonly);
    for (const std::string& o : m.options) b.add_options(o);
    if (!m.direct_volume.empty()) {
      RETURN_IF_ERROR(sb_.UseDirectVolume(m.direct_volume, id_, m.host_path, b.guest_path()).Wrap("mount " + dest));
    }
    entry = {{"destination", dest}, {"type", "bind"}, {"source", b.guest_path()},
             {"options", {"rbind", m.readonly ? "ro" : "rw"}}};
    disk_mounts_.insert(m.index);
    out.mounts.push_back(b);
  }
  AttachRootfsImage(&out);
  RETURN_IF_ERROR(AttachBlockRootfs(spec, &out));
  return out;
}

Status Container::AttachBlockRootfs(nlohmann::json& spec, GuestDisks* out) {
  if (!rootfs_.block) return Status::Ok();
  const BlockRootfs& b = *rootfs_.block;
  bool readonly = b.readonly || (spec["root"].is_object() && spec["root"].value("readonly", false));
  auto serial = sb_.DiskFor(id_, b.device, true, readonly);
  if (!serial.ok()) return serial.status().Wrap("rootfs " + b.device);
  grpc::BlockMount m = DiskMount(id_, *serial, b.fstype, readonly);
  for (const std::string& o : b.options) m.add_options(o);  // the agent tells flags from data
  m.set_root(true);
  spec["root"]["path"] = m.guest_path();
  out->mounts.push_back(m);
  return Status::Ok();
}

void Container::AttachRootfsImage(GuestDisks* out) {
  if (!rootfs_.image) return;
  auto serial = sb_.DiskFor(id_, rootfs_.image->image, false, true);
  if (!serial.ok()) {
    log::Warn("container " + id_ + ": rootfs shared whole, not as image " + rootfs_.image->image + ": " +
              serial.status().message());
    rootfs_.image.reset();
    return;
  }
  grpc::BlockMount b = DiskMount(id_, *serial, "ext4", true);
  out->rootfs_image_path = b.guest_path();
  out->mounts.push_back(b);
}

grpc::CreateContainerRequest Container::CreateRequest(const nlohmann::json& spec, const GuestDisks& disks) const {
  grpc::CreateContainerRequest req;
  req.set_container_id(id_);
  req.set_spec_json(spec.dump());
  for (const grpc::BlockDevice& d : disks.devices) *req.add_block_devices() = d;
  for (const grpc::BlockMount& m : disks.mounts) *req.add_block_mounts() = m;
  // A block rootfs takes its writes itself, as with runc.
  req.set_rootfs_writes_in_guest(sb_.rootfs_writes_in_guest() && !rootfs_.block);
  req.set_rootfs_image_path(disks.rootfs_image_path);
  return req;
}

Status Container::Unshare() { return sb_.share().Unbind(sb_.vmm_pid(), id_); }

Result<std::unique_ptr<Container>> Container::Create(Sandbox& sb, const std::string& id, const std::string& bundle,
                                                     nlohmann::json spec, StdioPaths io, RootfsSource rootfs) {
  std::unique_ptr<Container> c(new Container(sb, id, bundle));
  c->rootfs_ = std::move(rootfs);
  if (fs::Exists(fs::JoinPath(sb.share().source_dir(), id))) {
    return Error(Code::kAlreadyExists, "container " + id + " already exists");
  }
  auto fail = [&](const Status& st) {
    sb.ForgetContainerResources(id);
    sb.UnplugDisksOf(id);
    Status u = c->Unshare();
    if (!u.ok()) log::Warn("undo share of " + id + ": " + u.message());
    return st.Wrap("create container " + id);
  };
  oci::Resources resources;
  if (auto parsed = oci::ParseSpec(spec); parsed.ok()) {
    if (parsed->hooks) c->hooks_ = *parsed->hooks;
    c->annotations_ = parsed->annotations;
    if (parsed->linux_config && parsed->linux_config->resources) resources = *parsed->linux_config->resources;
  }
  // The VM's host cgroup grows with the pod before the container may use it.
  if (Status st = sb.SetContainerResources(id, resources); !st.ok()) return fail(st);
  c->resources_ = std::move(resources);
  auto disks = c->AttachDisks(spec);
  if (!disks.ok()) return fail(disks.status());
  if (Status st = c->ShareFiles(spec); !st.ok()) return fail(st);
  Status created = sb.agent().CreateContainer(c->CreateRequest(spec, *disks));
  if (!created.ok()) return fail(created);
  // Spec lifecycle step 3-4: prestart, createRuntime and createContainer
  // hooks once the environment exists; a failure undoes the create.
  // createContainer hooks run in the pod's network namespace (hooks.h).
  struct Stage {
    const char* kind;
    const std::vector<oci::Hook>* hooks;
    int netns_fd;
  };
  for (const Stage& s : {Stage{"prestart", &c->hooks_.prestart, -1}, Stage{"createRuntime", &c->hooks_.create_runtime, -1},
                         Stage{"createContainer", &c->hooks_.create_container, sb.netns_fd()}}) {
    if (Status st = RunHooks(s.kind, *s.hooks, c->StateForHooks("creating"), s.netns_fd); !st.ok()) {
      Status r = sb.agent().RemoveContainer(id, 5);
      (void)r;
      return fail(st);
    }
  }
  if (!c->shared_volumes_.empty()) {
    c->mirror_ = std::make_shared<MountMirror>(sb.agent(), sb.share(), sb.vmm_pid(), id, c->shared_volumes_);
  }
  c->init_ = std::make_shared<HostProcess>(sb.agent(), id, "", std::move(io));
  c->MirrorMountsAtExitOf(*c->init_);
  if (Status st = c->init_->OpenStdio(); !st.ok()) {
    Status r = sb.agent().RemoveContainer(id, 5);
    (void)r;
    c->init_.reset();
    return fail(st);
  }
  c->init_->Run(nullptr);
  return c;
}

Container::~Container() {
  if (!init_) return;  // Create failed half-way and already undid its work
  Status st = Delete(true);
  if (!st.ok()) log::Warn("delete container " + id_ + ": " + st.message());
}

ContainerState Container::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  // The init's exit is the one transition nobody asks for: it happens.
  return init_->exited() ? ContainerState::kStopped : phase_;
}

Result<ContainerState> Container::Allowed(ContainerOp op) const {
  ContainerState now = state();
  std::lock_guard<std::mutex> lock(mu_);
  return NextState(now, op, id_, paused_from_);
}

void Container::Enter(ContainerState from, ContainerState to) {
  std::lock_guard<std::mutex> lock(mu_);
  if (to == ContainerState::kPaused && from != ContainerState::kPaused) paused_from_ = from;
  // Started while paused: it runs once resumed.
  if (from == ContainerState::kPaused && to == ContainerState::kPaused) paused_from_ = ContainerState::kRunning;
  phase_ = to;
}

Status Container::Start() {
  ContainerState from = state();
  ASSIGN_OR_RETURN(ContainerState to, Allowed(ContainerOp::kStart));
  RETURN_IF_ERROR(sb_.agent().StartContainer(id_));
  Enter(from, to);
  // A poststart hook failure is only a warning (runtime-spec lifecycle step 9).
  if (Status st = RunHooks("poststart", hooks_.poststart, StateForHooks("running")); !st.ok()) log::Warn(st.message());
  return Status::Ok();
}

Status Container::Pause() {
  ContainerState from = state();
  ASSIGN_OR_RETURN(ContainerState to, Allowed(ContainerOp::kPause));
  RETURN_IF_ERROR(sb_.agent().PauseContainer(id_));
  Enter(from, to);
  return Status::Ok();
}

Status Container::Resume() {
  ContainerState from = state();
  ASSIGN_OR_RETURN(ContainerState to, Allowed(ContainerOp::kResume));
  RETURN_IF_ERROR(sb_.agent().ResumeContainer(id_));
  Enter(from, to);
  return Status::Ok();
}

Status Container::Update(const std::string& resources_json) {
  RETURN_IF_ERROR(Allowed(ContainerOp::kUpdate).status());
  ASSIGN_OR_RETURN(oci::Resources update, oci::ParseResourcesJson(resources_json));
  // An update merges into what the container had, as runc's does: the
  // fields it leaves out keep their values.
  oci::Resources merged = MergeResources(resources_, update);
  RETURN_IF_ERROR(sb_.SetContainerResources(id_, merged));
  if (Status st = sb_.agent().UpdateContainer(id_, resources_json); !st.ok()) {
    (void)sb_.SetContainerResources(id_, resources_);
    return st;
  }
  resources_ = std::move(merged);
  return Status::Ok();
}

Result<grpc::StatsContainerResponse> Container::Stats() {
  RETURN_IF_ERROR(Allowed(ContainerOp::kStats).status());
  return sb_.agent().StatsContainer(id_);
}

Status Container::Kill(const std::string& exec_id, int signal, bool all) {
  if (exec_id.empty() && !all) RETURN_IF_ERROR(Allowed(ContainerOp::kSignalInit).status());
  return sb_.agent().SignalProcess(id_, exec_id, static_cast<uint32_t>(signal), all);
}

Status Container::Exec(const std::string& exec_id, const std::string& process_json, StdioPaths io) {
  RETURN_IF_ERROR(Allowed(ContainerOp::kExec).status());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (execs_.count(exec_id)) return Error(Code::kAlreadyExists, "exec " + exec_id + " already exists in " + id_);
  }
  auto p = std::make_shared<HostProcess>(sb_.agent(), id_, exec_id, std::move(io));
  MirrorMountsAtExitOf(*p);
  RETURN_IF_ERROR(p->OpenStdio());
  RETURN_IF_ERROR(sb_.agent().ExecProcess(id_, exec_id, process_json));
  p->Run(nullptr);
  std::lock_guard<std::mutex> lock(mu_);
  execs_[exec_id] = std::move(p);
  return Status::Ok();
}

Result<std::shared_ptr<HostProcess>> Container::Process(const std::string& exec_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (exec_id.empty()) return init_;
  auto it = execs_.find(exec_id);
  if (it == execs_.end()) return Error(Code::kNotFound, "process " + exec_id + " of container " + id_ + " does not exist");
  return it->second;
}

Status Container::RemoveExec(const std::string& exec_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = execs_.find(exec_id);
  if (it == execs_.end()) return Error(Code::kNotFound, "process " + exec_id + " of container " + id_ + " does not exist");
  if (!it->second->exited()) {
    return Error(Code::kFailedPrecondition, "process " + exec_id + " of " + id_ + " is still running");
  }
  execs_.erase(it);
  return Status::Ok();
}

Status Container::Delete(bool force) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (deleted_) return Status::Ok();
  }
  ContainerState s = state();
  RETURN_IF_ERROR(Allowed(force ? ContainerOp::kForceDelete : ContainerOp::kDelete).status());
  if (s == ContainerState::kPaused && sb_.vm_running()) {
    Status r = Resume();  // a frozen process cannot die
    (void)r;
  }
  if (s != ContainerState::kStopped && sb_.vm_running()) {
    Status k = sb_.agent().SignalProcess(id_, "", 9, true);
    (void)k;
  }
  if (sb_.vm_running()) {
    Status r = sb_.agent().RemoveContainer(id_, 5);
    if (!r.ok()) log::Warn("remove container " + id_ + " in guest: " + r.message());
  }
  sb_.UnplugDisksOf(id_);  // the guest unmounted them with the container
  init_->Wait();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [eid, p] : execs_) p->Wait();
    deleted_ = true;
  }
  if (mirror_) mirror_->Clear();
  if (Status st = RunHooks("poststop", hooks_.poststop, StateForHooks("stopped")); !st.ok()) log::Warn(st.message());
  sb_.ForgetContainerResources(id_);
  return Unshare();
}

// A mount made by the process (`mount` run by exec) is on the host before
// the caller learns the process exited.
void Container::MirrorMountsAtExitOf(HostProcess& p) {
  if (mirror_) p.SetBeforeExit([mirror = mirror_] { mirror->Sync(); });
}

}  // namespace kata::sandbox
