#include "sandbox/agent_client.h"

#include <thread>

#include "common/log.h"
#include "health.pb.h"
#include "port_forward.pb.h"
#include "ttrpc/socket.h"
#include "wkt.pb.h"

namespace kata::sandbox {
namespace {
constexpr const char* kService = "grpc.AgentService";
constexpr const char* kPortForwardService = "kata.portforward.PortForward";
constexpr std::chrono::milliseconds kNoTimeout{0};
constexpr std::chrono::milliseconds kControlTimeout{60000};
constexpr uint32_t kReadChunk = 64 * 1024;
}  // namespace

Result<std::unique_ptr<AgentClient>> AgentClient::Dial(const std::string& socket_path, std::chrono::milliseconds timeout,
                                                       const std::function<bool()>& vm_alive) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    Result<int> fd = ttrpc::DialUnix(socket_path);
    if (fd.ok()) return std::unique_ptr<AgentClient>(new AgentClient(*fd));
    if (!vm_alive()) return Error(Code::kUnavailable, "the VM exited before its agent socket accepted connections");
    if (std::chrono::steady_clock::now() >= deadline) return fd.status().Wrap("dial the agent");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

template <typename Req, typename Resp>
Status AgentClient::Call(const char* method, const Req& req, Resp* resp, std::chrono::milliseconds timeout,
                         const char* service) {
  // Debug logs carry each call's duration: under TCG the guest side of a
  // container's set-up is most of a cold start, and this is where it shows.
  auto t0 = std::chrono::steady_clock::now();
  Status st = client_->Call(service != nullptr ? service : kService, method, req, resp, timeout);
  if (log::Enabled(log::Level::kDebug)) {
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    log::Debug(std::string("agent ") + method + ": " + std::to_string(ms) + " ms");
  }
  return st.Wrap(std::string("agent ") + method);
}

Status AgentClient::WaitReady(std::chrono::milliseconds timeout, const std::function<bool()>& vm_alive) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  grpc::CheckRequest req;
  grpc::HealthCheckResponse resp;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!vm_alive()) return Error(Code::kUnavailable, "the VM exited before its agent answered");
    Status st = client_->Call("grpc.Health", "Check", req, &resp, std::chrono::milliseconds(500));
    if (st.ok()) return Status::Ok();
    if (st.code() != Code::kDeadlineExceeded) return st.Wrap("agent health check");
  }
  return Error(Code::kDeadlineExceeded, "the agent did not answer within " +
                                            std::to_string(timeout.count() / 1000) + " s");
}

Status AgentClient::Check(std::chrono::milliseconds timeout) {
  grpc::CheckRequest req;
  grpc::HealthCheckResponse resp;
  return client_->Call("grpc.Health", "Check", req, &resp, timeout).Wrap("agent health check");
}

Status AgentClient::CreateSandbox(const grpc::CreateSandboxRequest& req) {
  wkt::Empty e;
  return Call("CreateSandbox", req, &e, kControlTimeout);
}

Status AgentClient::ReseedRandomDev(const std::string& data) {
  grpc::ReseedRandomDevRequest req;
  req.set_data(data);
  wkt::Empty e;
  return Call("ReseedRandomDev", req, &e, std::chrono::milliseconds(5000));
}

Status AgentClient::SetGuestDateTime(int64_t unix_ns) {
  grpc::SetGuestDateTimeRequest req;
  req.set_sec(unix_ns / 1000000000);
  req.set_usec((unix_ns % 1000000000) / 1000);
  wkt::Empty e;
  return Call("SetGuestDateTime", req, &e, std::chrono::milliseconds(5000));
}

Status AgentClient::DestroySandbox() {
  grpc::DestroySandboxRequest req;
  wkt::Empty e;
  return Call("DestroySandbox", req, &e, std::chrono::milliseconds(2000));
}

Status AgentClient::CreateContainer(const grpc::CreateContainerRequest& req) {
  wkt::Empty e;
  return Call("CreateContainer", req, &e, kControlTimeout);
}

Status AgentClient::StartContainer(const std::string& id) {
  grpc::StartContainerRequest req;
  req.set_container_id(id);
  wkt::Empty e;
  return Call("StartContainer", req, &e, kControlTimeout);
}

Status AgentClient::RemoveContainer(const std::string& id, uint32_t timeout_s) {
  grpc::RemoveContainerRequest req;
  req.set_container_id(id);
  req.set_timeout(timeout_s);
  wkt::Empty e;
  return Call("RemoveContainer", req, &e, kControlTimeout);
}

Status AgentClient::ExecProcess(const std::string& id, const std::string& exec_id, const std::string& process_json) {
  grpc::ExecProcessRequest req;
  req.set_container_id(id);
  req.set_exec_id(exec_id);
  req.set_process_json(process_json);
  wkt::Empty e;
  return Call("ExecProcess", req, &e, kControlTimeout);
}

Status AgentClient::SignalProcess(const std::string& id, const std::string& exec_id, uint32_t signal, bool all) {
  grpc::SignalProcessRequest req;
  req.set_container_id(id);
  req.set_exec_id(exec_id);
  req.set_signal(signal);
  req.set_all(all);
  wkt::Empty e;
  return Call("SignalProcess", req, &e, kControlTimeout);
}

Result<int> AgentClient::WaitProcess(const std::string& id, const std::string& exec_id) {
  grpc::WaitProcessRequest req;
  req.set_container_id(id);
  req.set_exec_id(exec_id);
  grpc::WaitProcessResponse resp;
  RETURN_IF_ERROR(Call("WaitProcess", req, &resp, kNoTimeout));
  return resp.status();
}

Result<std::string> AgentClient::ReadStream(const std::string& id, const std::string& exec_id, bool stderr_stream) {
  grpc::ReadStreamRequest req;
  req.set_container_id(id);
  req.set_exec_id(exec_id);
  req.set_len(kReadChunk);
  grpc::ReadStreamResponse resp;
  RETURN_IF_ERROR(Call(stderr_stream ? "ReadStderr" : "ReadStdout", req, &resp, kNoTimeout));
  return std::move(*resp.mutable_data());
}

Status AgentClient::WriteStdin(const std::string& id, const std::string& exec_id, const std::string& data) {
  grpc::WriteStreamRequest req;
  req.set_container_id(id);
  req.set_exec_id(exec_id);
  req.set_data(data);
  grpc::WriteStreamResponse resp;
  return Call("WriteStdin", req, &resp, kNoTimeout);
}

Status AgentClient::CloseStdin(const std::string& id, const std::string& exec_id) {
  grpc::CloseStdinRequest req;
  req.set_container_id(id);
  req.set_exec_id(exec_id);
  wkt::Empty e;
  return Call("CloseStdin", req, &e, kControlTimeout);
}

Status AgentClient::TtyWinResize(const std::string& id, const std::string& exec_id, uint32_t rows, uint32_t columns) {
  grpc::TtyWinResizeRequest req;
  req.set_container_id(id);
  req.set_exec_id(exec_id);
  req.set_row(rows);
  req.set_column(columns);
  wkt::Empty e;
  return Call("TtyWinResize", req, &e, kControlTimeout);
}

Status AgentClient::PauseContainer(const std::string& id) {
  grpc::PauseContainerRequest req;
  req.set_container_id(id);
  wkt::Empty e;
  return Call("PauseContainer", req, &e, kControlTimeout);
}

Status AgentClient::ResumeContainer(const std::string& id) {
  grpc::ResumeContainerRequest req;
  req.set_container_id(id);
  wkt::Empty e;
  return Call("ResumeContainer", req, &e, kControlTimeout);
}

Result<grpc::StatsContainerResponse> AgentClient::StatsContainer(const std::string& id) {
  grpc::StatsContainerRequest req;
  req.set_container_id(id);
  grpc::StatsContainerResponse resp;
  RETURN_IF_ERROR(Call("StatsContainer", req, &resp, kControlTimeout));
  return resp;
}

Status AgentClient::UpdateContainer(const std::string& id, const std::string& resources_json) {
  grpc::UpdateContainerRequest req;
  req.set_container_id(id);
  req.set_resources_json(resources_json);
  wkt::Empty e;
  return Call("UpdateContainer", req, &e, kControlTimeout);
}

Result<grpc::GuestDetailsResponse> AgentClient::GetGuestDetails() {
  grpc::GuestDetailsRequest req;
  grpc::GuestDetailsResponse resp;
  RETURN_IF_ERROR(Call("GetGuestDetails", req, &resp, kControlTimeout));
  return resp;
}

Status AgentClient::UpdateInterface(const grpc::Interface& iface) {
  grpc::UpdateInterfaceRequest req;
  *req.mutable_interface() = iface;
  grpc::Interface out;
  return Call("UpdateInterface", req, &out, kControlTimeout);
}

Status AgentClient::UpdateRoutes(const grpc::Routes& routes) {
  grpc::UpdateRoutesRequest req;
  *req.mutable_routes() = routes;
  grpc::Routes out;
  return Call("UpdateRoutes", req, &out, kControlTimeout);
}

Result<std::string> AgentClient::GetOOMEvent() {
  grpc::GetOOMEventRequest req;
  grpc::OOMEvent ev;
  RETURN_IF_ERROR(Call("GetOOMEvent", req, &ev, kNoTimeout));
  return std::move(*ev.mutable_container_id());
}

Result<uint32_t> AgentClient::SetOnlineCpus(uint32_t count) {
  grpc::SetOnlineCpusRequest req;
  req.set_count(count);
  grpc::SetOnlineCpusResponse resp;
  RETURN_IF_ERROR(Call("SetOnlineCpus", req, &resp, kControlTimeout));
  return resp.online();
}

Status AgentClient::MemHotplugByProbe(const std::vector<uint64_t>& addresses) {
  grpc::MemHotplugByProbeRequest req;
  for (uint64_t a : addresses) req.add_memhotplugprobeaddr(a);
  kata::wkt::Empty resp;
  return Call("MemHotplugByProbe", req, &resp, kControlTimeout);
}

Result<grpc::ListSharedMountsResponse> AgentClient::ListSharedMounts(const std::string& container_id) {
  grpc::ListSharedMountsRequest req;
  req.set_container_id(container_id);
  grpc::ListSharedMountsResponse resp;
  RETURN_IF_ERROR(Call("ListSharedMounts", req, &resp, kControlTimeout));
  return resp;
}

Status AgentClient::ReleaseDisk(const std::string& serial) {
  grpc::ReleaseDiskRequest req;
  req.set_serial(serial);
  kata::wkt::Empty resp;
  return Call("ReleaseDisk", req, &resp, kControlTimeout);
}

Result<grpc::VolumeStatsResponse> AgentClient::GetVolumeStats(const std::string& guest_path) {
  grpc::VolumeStatsRequest req;
  req.set_volume_guest_path(guest_path);
  grpc::VolumeStatsResponse resp;
  RETURN_IF_ERROR(Call("GetVolumeStats", req, &resp, kControlTimeout));
  return resp;
}

Status AgentClient::ResizeVolume(const std::string& guest_path, uint64_t bytes) {
  grpc::ResizeVolumeRequest req;
  req.set_volume_guest_path(guest_path);
  req.set_size(bytes);
  kata::wkt::Empty resp;
  return Call("ResizeVolume", req, &resp, kControlTimeout);
}

Result<std::string> AgentClient::GetMetrics() {
  grpc::GetMetricsRequest req;
  grpc::Metrics m;
  RETURN_IF_ERROR(Call("GetMetrics", req, &m, kControlTimeout));
  return std::move(*m.mutable_metrics());
}

Result<uint64_t> AgentClient::PortForwardConnect(uint32_t port) {
  portforward::ConnectRequest req;
  req.set_port(port);
  portforward::ConnectResponse resp;
  RETURN_IF_ERROR(Call("Connect", req, &resp, kControlTimeout, kPortForwardService));
  return resp.stream();
}

Result<std::string> AgentClient::PortForwardRead(uint64_t stream) {
  portforward::ReadRequest req;
  req.set_stream(stream);
  req.set_len(kReadChunk);
  portforward::ReadResponse resp;
  RETURN_IF_ERROR(Call("Read", req, &resp, kNoTimeout, kPortForwardService));
  return std::move(*resp.mutable_data());
}

Status AgentClient::PortForwardWrite(uint64_t stream, const std::string& data) {
  portforward::WriteRequest req;
  req.set_stream(stream);
  req.set_data(data);
  wkt::Empty e;
  return Call("Write", req, &e, kControlTimeout, kPortForwardService);
}

Status AgentClient::PortForwardCloseWrite(uint64_t stream) {
  portforward::StreamRequest req;
  req.set_stream(stream);
  wkt::Empty e;
  return Call("CloseWrite", req, &e, kControlTimeout, kPortForwardService);
}

Status AgentClient::PortForwardClose(uint64_t stream) {
  portforward::StreamRequest req;
  req.set_stream(stream);
  wkt::Empty e;
  return Call("Close", req, &e, kControlTimeout, kPortForwardService);
}

}  // namespace kata::sandbox
