// Host side of a container in a sandbox: shares its rootfs and volumes into
// the guest, creates it through the agent, and tracks its lifecycle.
#pragma once

#include <set>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "oci/spec.h"
#include "sandbox/hooks.h"
#include "sandbox/lifecycle.h"
#include "sandbox/mount_mirror.h"
#include "sandbox/process.h"
#include "sandbox/rootfs_source.h"
#include "sandbox/sandbox.h"

namespace kata::sandbox {


class Container {
 public:
  // `spec` is the bundle's config.json, already validated. `rootfs` says
  // whether the guest gets the rootfs as a disk (rootfs_source.h) instead of
  // whole through the share.
  static Result<std::unique_ptr<Container>> Create(Sandbox& sb, const std::string& id, const std::string& bundle,
                                                   nlohmann::json spec, StdioPaths io, RootfsSource rootfs = {});
  ~Container();

  const std::string& id() const { return id_; }
  const std::string& bundle() const { return bundle_; }
  ContainerState state() const;
  HostProcess& init() { return *init_; }
  Status Start();
  // exec_id "" = init; `all` = every process of the container.
  Status Kill(const std::string& exec_id, int signal, bool all);
  Status Exec(const std::string& exec_id, const std::string& process_json, StdioPaths io);
  Status StartExec(const std::string& exec_id);
  // Freezes / thaws every process of the container (cgroup freezer in the guest).
  Status Pause();
  Status Resume();
  // OCI LinuxResources JSON applied to the container's guest cgroup.
  Status Update(const std::string& resources_json);
  // cgroup statistics of the container, from the guest.
  Result<grpc::StatsContainerResponse> Stats();
  // Shared: a caller may still hold it after the exec was removed.
  Result<std::shared_ptr<HostProcess>> Process(const std::string& exec_id);
  // Forgets an exec that has exited (Task API Delete of an exec), so a
  // long-lived pod's execs (Kubernetes probes) cost nothing once deleted.
  Status RemoveExec(const std::string& exec_id);
  // Removes the container from the guest and unshares its files. A running
  // container is refused unless `force` (then it is killed first).
  Status Delete(bool force);

 private:
  Container(Sandbox& sb, std::string id, std::string bundle) : sb_(sb), id_(std::move(id)), bundle_(std::move(bundle)) {}
  Status ShareFiles(nlohmann::json& spec);
  // The VM's disks for the spec's block devices and block mounts (plugged
  // in when the VM did not boot with them), for the agent to find; a block
  // mount becomes a bind of where the agent mounts its disk (disk_mounts_
  // lists them: they are not shared).
  struct GuestDisks {
    std::vector<grpc::BlockDevice> devices;
    std::vector<grpc::BlockMount> mounts;
    std::string rootfs_image_path;  // the guest path the image disk is mounted at; "" without one
  };
  Result<GuestDisks> AttachDisks(nlohmann::json& spec);
  // The rootfs image's disk (rootfs_.image): mounted read-only by the agent.
  // Without a free slot the rootfs is shared whole (logged).
  void AttachRootfsImage(GuestDisks* out);
  // The block-device rootfs (rootfs_.block): the agent mounts it and the
  // spec's root is where. No slot is an error: nothing else can serve it.
  Status AttachBlockRootfs(nlohmann::json& spec, GuestDisks* out);
  grpc::CreateContainerRequest CreateRequest(const nlohmann::json& spec, const GuestDisks& disks) const;
  Status Unshare();
  HookState StateForHooks(const char* status) const;
  // The state `op` leads to from the current one (lifecycle.h), or why not.
  Result<ContainerState> Allowed(ContainerOp op) const;
  // Records a transition Allowed() gave, once its work is done.
  void Enter(ContainerState from, ContainerState to);
  void MirrorMountsAtExitOf(HostProcess& p);

  Sandbox& sb_;
  std::string id_;
  std::string bundle_;
  oci::Hooks hooks_;
  std::map<std::string, std::string> annotations_;  // the spec's, for the hooks' state
  oci::Resources resources_;  // linux.resources with the updates since (for the host cgroup)
  std::vector<SharedVolume> shared_volumes_;  // rshared binds (mount_mirror.h)
  std::shared_ptr<MountMirror> mirror_;        // none without them
  std::shared_ptr<HostProcess> init_;
  std::map<std::string, std::shared_ptr<HostProcess>> execs_;
  mutable std::mutex mu_;
  ContainerState phase_ = ContainerState::kCreated;  // state() unless the init exited
  ContainerState paused_from_ = ContainerState::kCreated;  // where kResume returns
  bool deleted_ = false;
  std::set<size_t> disk_mounts_;  // spec.mounts indices served by disks (AttachDisks)
  RootfsSource rootfs_;  // a rootfs that reaches the guest as a disk
};

}  // namespace kata::sandbox
