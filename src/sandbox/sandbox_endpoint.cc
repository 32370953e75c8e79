#include "sandbox/sandbox_endpoint.h"

#include <unistd.h>

#include "agent.pb.h"
#include "common/log.h"
#include "sandbox/sandbox.h"
#include "sandbox_volumes.pb.h"
#include "ttrpc/socket.h"

namespace kata::sandbox {

// A guest answer serves every scrape for this long. Under TCG one GetMetrics
// costs the guest ~10 ms of host CPU (bench/monitor.sh: 20 sandboxes scraped
// every second took +21% of a CPU with 1 s): guest figures may be 5 s old,
// host figures (kata-monitor reads /proc itself) are always fresh.
constexpr std::chrono::seconds kCacheFor{5};

Result<std::unique_ptr<SandboxEndpoint>> SandboxEndpoint::Start(const std::string& socket_path, AgentClient& agent,
                                                                Sandbox* sandbox) {
  ASSIGN_OR_RETURN(int fd, ttrpc::ListenUnix(socket_path));
  std::unique_ptr<SandboxEndpoint> e(new SandboxEndpoint(socket_path));
  e->shared_->agent = &agent;
  e->shared_->sandbox = sandbox;
  if (sandbox != nullptr) e->RegisterVolumeCalls();
  e->server_.Register(kMetricsService, kMetricsMethod,
                      ttrpc::TypedHandler<grpc::GetMetricsRequest, grpc::Metrics>(
                          [shared = e->shared_](const ttrpc::CallContext&, const grpc::GetMetricsRequest&) {
                            return Answer(*shared);
                          }));
  e->thread_ = std::thread([ep = e.get(), fd] { ep->server_.ServeListener(fd); });
  return e;
}

Result<grpc::Metrics> SandboxEndpoint::Answer(Shared& s) {
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.agent == nullptr) return Error(Code::kUnavailable, "the sandbox is shutting down");
  auto now = std::chrono::steady_clock::now();
  if (s.cached.empty() || now - s.cached_at >= kCacheFor) {
    ASSIGN_OR_RETURN(s.cached, s.agent->GetMetrics());
    s.cached_at = now;
  }
  grpc::Metrics m;
  m.set_metrics(s.cached);
  return m;
}

Result<grpc::VolumeStatsResponse> SandboxEndpoint::VolumeStats(Shared& s, const volumes::VolumeStatsRequest& req) {
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.sandbox == nullptr) return Error(Code::kUnavailable, "the sandbox is shutting down");
  return s.sandbox->DirectVolumeStats(req.volume_path());
}

Result<kata::wkt::Empty> SandboxEndpoint::VolumeResize(Shared& s, const volumes::ResizeVolumeRequest& req) {
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.sandbox == nullptr) return Error(Code::kUnavailable, "the sandbox is shutting down");
  RETURN_IF_ERROR(s.sandbox->ResizeDirectVolume(req.volume_path(), req.size()));
  return kata::wkt::Empty();
}

void SandboxEndpoint::RegisterVolumeCalls() {
  server_.Register(kVolumesService, kVolumeStatsMethod,
                   ttrpc::TypedHandler<volumes::VolumeStatsRequest, grpc::VolumeStatsResponse>(
                       [shared = shared_](const ttrpc::CallContext&, const volumes::VolumeStatsRequest& req) {
                         return VolumeStats(*shared, req);
                       }));
  server_.Register(kVolumesService, kVolumeResizeMethod,
                   ttrpc::TypedHandler<volumes::ResizeVolumeRequest, kata::wkt::Empty>(
                       [shared = shared_](const ttrpc::CallContext&, const volumes::ResizeVolumeRequest& req) {
                         return VolumeResize(*shared, req);
                       }));
}

SandboxEndpoint::~SandboxEndpoint() {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);  // waits out a call in progress
    shared_->agent = nullptr;
    shared_->sandbox = nullptr;
  }
  server_.Shutdown();
  if (thread_.joinable()) thread_.join();
  unlink(path_.c_str());
}

}  // namespace kata::sandbox
