// `kata-runtime direct-volume stats|resize`: the question goes to the
// sandbox recorded as the volume's user (direct_volume.h), on its endpoint
// socket (sandbox_endpoint.h). Its replies are bounded and checked like any
// other ttrpc reply; the sandbox's own refusal comes back with its reason.
#include <nlohmann/json.hpp>

#include "sandbox/direct_volume.h"
#include "sandbox/sandbox_endpoint.h"
#include "sandbox_volumes.pb.h"
#include "ttrpc/client.h"
#include "ttrpc/socket.h"
#include "wkt.pb.h"

namespace kata::sandbox {
namespace {

// A resize waits for the VMM, then for the guest to see the new size (5 s
// at most) and grow the file system.
constexpr std::chrono::seconds kCallTimeout{60};

template <typename Req, typename Resp>
Status AskVolumeUser(const std::string& volume_path, const char* method, const Req& req, Resp* resp,
                     const std::string& root) {
  ASSIGN_OR_RETURN(std::vector<std::string> endpoints, VolumeUserEndpoints(volume_path, root));
  Status last = Error(Code::kNotFound, "direct volume " + volume_path +
                                           " is not mounted by any running sandbox (a container must mount it first)");
  for (const std::string& endpoint : endpoints) {
    auto fd = ttrpc::DialUnix(endpoint);
    if (!fd.ok()) continue;  // a sandbox that is gone (killed before it forgot the volume)
    ttrpc::Client client(*fd);
    last = client.Call(kVolumesService, method, req, resp, kCallTimeout).Wrap("direct volume " + volume_path);
    if (last.ok() || last.code() != Code::kNotFound) return last;
  }
  return last;
}

}  // namespace

Result<grpc::VolumeStatsResponse> DirectVolumeStats(const std::string& volume_path, const std::string& root) {
  volumes::VolumeStatsRequest req;
  req.set_volume_path(volume_path);
  grpc::VolumeStatsResponse resp;
  RETURN_IF_ERROR(AskVolumeUser(volume_path, kVolumeStatsMethod, req, &resp, root));
  return resp;
}

Status ResizeDirectVolume(const std::string& volume_path, uint64_t bytes, const std::string& root) {
  if (bytes == 0) return Error(Code::kInvalidArgument, "--size must be a number of bytes above 0");
  volumes::ResizeVolumeRequest req;
  req.set_volume_path(volume_path);
  req.set_size(bytes);
  kata::wkt::Empty resp;
  return AskVolumeUser(volume_path, kVolumeResizeMethod, req, &resp, root);
}

std::string VolumeStatsJson(const grpc::VolumeStatsResponse& stats) {
  nlohmann::json usage = nlohmann::json::array();
  for (const grpc::VolumeUsage& u : stats.usage()) {
    usage.push_back({{"available", u.available()}, {"total", u.total()}, {"used", u.used()}, {"unit", int(u.unit())}});
  }
  return nlohmann::json{{"usage", usage},
                        {"volume_condition",
                         {{"abnormal", stats.volume_condition().abnormal()},
                          {"message", stats.volume_condition().message()}}}}
      .dump();
}

}  // namespace kata::sandbox
