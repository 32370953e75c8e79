// grpc.AgentService and grpc.Health handlers, registered on a ttrpc server.
// One file per RPC group: agent_service.cc (health, sandbox, container and
// process lifecycle), stdio_service.cc (streams, terminals),
// resources_service.cc (pause/resume, stats, update: cgroups),
// identity.cc (a template clone's own randomness and clock), port_forward.cc
// (host-to-guest TCP streams for the CRI's port forward).
#pragma once

#include <atomic>
#include <cstdint>

#include "agent.pb.h"
#include "agent/oom_watcher.h"
#include "agent/port_forward.h"
#include "agent/process_table.h"
#include "agent/sandbox_namespaces.h"
#include "common/guest_paths.h"
#include "oci/spec.h"
#include "ttrpc/server.h"
#include "wkt.pb.h"

namespace kata::agent {

using Empty = kata::wkt::Empty;

struct AgentOptions {
  // Where the kataShared 9p share is mounted; container rootfs paths are under it.
  std::string shared_mount = kGuestSharedDir;
  // False when the agent runs on a host for tests: no 9p, no clock, no hostname.
  bool guest = true;
  // cgroup v2 mount; containers get <cgroup_root>/kata/<id>. "" or not a
  // cgroup2 mount: no cgroups (resources ignored; pause/stats/update refused).
  std::string cgroup_root = "/sys/fs/cgroup";
  // CLOCK_BOOTTIME at main() (guest: time the kernel took to run /init).
  int64_t started_boottime_ns = 0;
};

class AgentService {
 public:
  explicit AgentService(AgentOptions opts);
  void Register(ttrpc::Server& server);
  // Records the moment the agent starts serving its port (GetGuestDetails).
  void MarkReady() { ready_boottime_ns_ = BoottimeNs(); }
  static int64_t BoottimeNs();

  // grpc.AgentService, one method per RPC of the sandbox's, containers' and
  // processes' lives (agent_service.cc).
  Result<grpc::GuestDetailsResponse> GetGuestDetails(const grpc::GuestDetailsRequest& req);
  Result<Empty> CreateSandbox(const grpc::CreateSandboxRequest& req);
  Result<Empty> DestroySandbox(const grpc::DestroySandboxRequest& req);
  Result<Empty> CreateContainer(const grpc::CreateContainerRequest& req);
  Result<Empty> StartContainer(const grpc::StartContainerRequest& req);
  Result<Empty> ExecProcess(const grpc::ExecProcessRequest& req);
  Result<Empty> SignalProcess(const grpc::SignalProcessRequest& req);
  Result<grpc::WaitProcessResponse> WaitProcess(const grpc::WaitProcessRequest& req);
  Result<Empty> RemoveContainer(const grpc::RemoveContainerRequest& req);
  Result<grpc::ListSharedMountsResponse> ListSharedMounts(const grpc::ListSharedMountsRequest& req);
  Result<Empty> ReleaseDisk(const grpc::ReleaseDiskRequest& req);
  // Direct-assigned volumes (volume_service.cc).
  Result<grpc::VolumeStatsResponse> GetVolumeStats(const grpc::VolumeStatsRequest& req);
  Result<Empty> ResizeVolume(const grpc::ResizeVolumeRequest& req);
  // Streams and terminals (stdio_service.cc).
  Result<grpc::ReadStreamResponse> ReadStdout(const grpc::ReadStreamRequest& req);
  Result<grpc::ReadStreamResponse> ReadStderr(const grpc::ReadStreamRequest& req);
  Result<grpc::WriteStreamResponse> WriteStdin(const grpc::WriteStreamRequest& req);
  Result<Empty> CloseStdin(const grpc::CloseStdinRequest& req);
  Result<Empty> TtyWinResize(const grpc::TtyWinResizeRequest& req);
  // cgroups and the VM's resources (resources_service.cc).
  Result<Empty> PauseContainer(const grpc::PauseContainerRequest& req);
  Result<Empty> ResumeContainer(const grpc::ResumeContainerRequest& req);
  Result<grpc::StatsContainerResponse> StatsContainer(const grpc::StatsContainerRequest& req);
  Result<Empty> UpdateContainer(const grpc::UpdateContainerRequest& req);
  Result<grpc::Metrics> GetMetrics(const grpc::GetMetricsRequest& req);
  Result<grpc::SetOnlineCpusResponse> SetOnlineCpus(const grpc::SetOnlineCpusRequest& req);
  Result<grpc::OOMEvent> GetOOMEvent(const grpc::GetOOMEventRequest& req);
  // The guest's network (network_service.cc).
  Result<grpc::Interface> UpdateInterface(const grpc::UpdateInterfaceRequest& req);
  Result<grpc::Routes> UpdateRoutes(const grpc::UpdateRoutesRequest& req);
  // A template clone's own randomness and clock (identity.cc).
  Result<Empty> ReseedRandomDev(const grpc::ReseedRandomDevRequest& req);
  Result<Empty> SetGuestDateTime(const grpc::SetGuestDateTimeRequest& req);

 private:
  Result<grpc::ReadStreamResponse> ReadOutput(const grpc::ReadStreamRequest& req, bool err);
  Result<std::shared_ptr<Container>> CgroupOf(const std::string& id, const char* what);
  Result<Empty> Freeze(const std::string& id, bool frozen);
  // CreateContainer's steps.
  Result<std::string> PrepareDisks(const grpc::CreateContainerRequest& req);
  Result<bool> MountRootfsUpper(const grpc::CreateContainerRequest& req, oci::Spec* spec);
  Status MakeContainerCgroup(Container* c, const oci::Spec& spec);
  Status LaunchInit(Container* c, oci::Spec spec);
  void RegisterLifecycle(ttrpc::Server& server);
  void RegisterStdio(ttrpc::Server& server);
  void RegisterResources(ttrpc::Server& server);
  void RegisterVolumes(ttrpc::Server& server);
  void RegisterNetwork(ttrpc::Server& server);
  // ReseedRandomDev, SetGuestDateTime (identity.cc): VM templating.
  void RegisterIdentity(ttrpc::Server& server);
  // Every process of the container: its cgroup, else its pid namespace.
  void SignalAll(const Container& c, int sig);
  // The init of a container without a pid namespace of its own has exited:
  // SIGKILL what is left in its cgroup.
  void KillOrphansOfInit(const std::string& container_id);

  ProcessTable table_;
  SandboxNamespaces sandbox_ns_;
  PortForwardStreams port_forward_;
  OomWatcher oom_;  // GetOOMEvent (resources_service.cc)
  AgentOptions opts_;
  bool cgroups_ = false;  // opts_.cgroup_root is a usable cgroup2 mount
  std::atomic<int64_t> ready_boottime_ns_{0};
};

}  // namespace kata::agent
