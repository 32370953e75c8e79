// Direct-assigned volumes' RPCs: GetVolumeStats and ResizeVolume (Kata's),
// on the disks the agent mounted below kGuestStorageDir (guest_volumes.h).
#include "agent.pb.h"
#include "agent/agent_service.h"
#include "agent/guest_volumes.h"
#include "agent/rpc_handlers.h"
#include "common/guest_paths.h"
#include "wkt.pb.h"

namespace kata::agent {
namespace {

void AddUsage(grpc::VolumeStatsResponse* r, grpc::VolumeUsage::Unit unit, uint64_t total, uint64_t available,
              uint64_t used) {
  grpc::VolumeUsage* u = r->add_usage();
  u->set_unit(unit);
  u->set_total(total);
  u->set_available(available);
  u->set_used(used);
}

}  // namespace

void AgentService::RegisterVolumes(ttrpc::Server& server) {
  ttrpc::Bind(server, kAgentService, "GetVolumeStats", this, &AgentService::GetVolumeStats);
  ttrpc::Bind(server, kAgentService, "ResizeVolume", this, &AgentService::ResizeVolume);
}

Result<grpc::VolumeStatsResponse> AgentService::GetVolumeStats(const grpc::VolumeStatsRequest& req) {
  RETURN_IF_ERROR(CheckVolumePath(req.volume_guest_path(), kGuestStorageDir));
  ASSIGN_OR_RETURN(VolumeFigures f, VolumeUsage(req.volume_guest_path()));
  grpc::VolumeStatsResponse r;
  AddUsage(&r, grpc::VolumeUsage::BYTES, f.bytes_total, f.bytes_available, f.bytes_used);
  AddUsage(&r, grpc::VolumeUsage::INODES, f.inodes_total, f.inodes_available, f.inodes_used);
  r.mutable_volume_condition()->set_abnormal(false);
  r.mutable_volume_condition()->set_message("mounted");
  return r;
}

Result<Empty> AgentService::ResizeVolume(const grpc::ResizeVolumeRequest& req) {
  RETURN_IF_ERROR(CheckVolumePath(req.volume_guest_path(), kGuestStorageDir));
  RETURN_IF_ERROR(GrowVolume(req.volume_guest_path(), req.size()));
  return Empty();
}

}  // namespace kata::agent
