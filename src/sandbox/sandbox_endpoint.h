// A running sandbox's endpoint: a ttrpc socket in the VM's run dir
// (EndpointSocket, 0600 root) where host tools ask the sandbox, not its
// guest, for what it knows:
// - kata-monitor (src/monitor/): the guest's figures from the agent (Kata's
//   GetMetrics). Answers are cached for 5 s, so any number of scrapers cost
//   the guest at most one agent call per 5 s.
// - `kata-runtime direct-volume stats|resize`: the sandbox's direct volumes
//   (proto/sandbox_volumes.proto).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "agent.pb.h"
#include "sandbox/agent_client.h"
#include "ttrpc/server.h"

namespace kata::volumes {
class VolumeStatsRequest;
class ResizeVolumeRequest;
}  // namespace kata::volumes
namespace kata::wkt {
class Empty;
}  // namespace kata::wkt

namespace kata::sandbox {

inline std::string EndpointSocket(const std::string& run_dir) { return run_dir + "/monitor.sock"; }
// The service and method served there (the agent's own names).
inline constexpr const char* kMetricsService = "grpc.AgentService";
inline constexpr const char* kMetricsMethod = "GetMetrics";
inline constexpr const char* kVolumesService = "kata.volumes.SandboxVolumes";
inline constexpr const char* kVolumeStatsMethod = "Stats";
inline constexpr const char* kVolumeResizeMethod = "Resize";

class Sandbox;

class SandboxEndpoint {
 public:
  // `sandbox` (may be null: no volume calls) answers the volume calls.
  static Result<std::unique_ptr<SandboxEndpoint>> Start(const std::string& socket_path, AgentClient& agent,
                                                        Sandbox* sandbox = nullptr);
  ~SandboxEndpoint();  // stops serving, removes the socket

 private:
  // What the handler uses: shared with it, as a connection thread may
  // still run it while the endpoint is being destroyed. The handler holds
  // `mu` throughout; once `agent` is null it answers Unavailable.
  struct Shared {
    std::mutex mu;
    AgentClient* agent = nullptr;
    Sandbox* sandbox = nullptr;
    std::string cached;
    std::chrono::steady_clock::time_point cached_at{};
  };
  explicit SandboxEndpoint(std::string path) : path_(std::move(path)), shared_(std::make_shared<Shared>()) {}
  static Result<grpc::Metrics> Answer(Shared& s);
  void RegisterVolumeCalls();
  static Result<grpc::VolumeStatsResponse> VolumeStats(Shared& s, const volumes::VolumeStatsRequest& req);
  static Result<kata::wkt::Empty> VolumeResize(Shared& s, const volumes::ResizeVolumeRequest& req);

  std::string path_;
  std::shared_ptr<Shared> shared_;
  ttrpc::Server server_;
  std::thread thread_;
};

}  // namespace kata::sandbox
