#include "cli/service_client.h"

#include "ttrpc/socket.h"
#include "wkt.pb.h"

namespace kata::cli {
namespace {
namespace task = containerd::task::v2;
constexpr const char* kService = "containerd.task.v2.Task";
constexpr std::chrono::milliseconds kControl{30000};
// Create boots a VM: allow the agent timeout plus QEMU start-up.
constexpr std::chrono::milliseconds kCreate{180000};
}  // namespace

Result<std::unique_ptr<ServiceClient>> ServiceClient::Dial(const std::string& socket) {
  ASSIGN_OR_RETURN(int fd, ttrpc::DialUnix(socket));
  return std::unique_ptr<ServiceClient>(new ServiceClient(fd));
}

template <typename Req, typename Resp>
Status ServiceClient::Call(const char* method, const Req& req, Resp* resp, std::chrono::milliseconds timeout) {
  Status st = client_->Call(kService, method, req, resp, timeout);
  // A bare "context deadline exceeded" says nothing of where the time went:
  // a call that runs out of time waits on the guest's agent (the service
  // answers its own part at once).
  if (st.code() == Code::kDeadlineExceeded) {
    return st.Wrap(std::string(method) + ": the sandbox's agent did not answer in time (a VM whose agent stays "
                   "silent for 30 s is stopped; kata-runtime state tells)");
  }
  return st;
}

Result<task::CreateTaskResponse> ServiceClient::Create(const task::CreateTaskRequest& req) {
  task::CreateTaskResponse r;
  RETURN_IF_ERROR(Call("Create", req, &r, kCreate));
  return r;
}

Status ServiceClient::Start(const std::string& id, const std::string& exec_id) {
  task::StartRequest req;
  req.set_id(id);
  req.set_exec_id(exec_id);
  task::StartResponse r;
  return Call("Start", req, &r, kControl);
}

Result<task::StateResponse> ServiceClient::State(const std::string& id, const std::string& exec_id) {
  task::StateRequest req;
  req.set_id(id);
  req.set_exec_id(exec_id);
  task::StateResponse r;
  RETURN_IF_ERROR(Call("State", req, &r, kControl));
  return r;
}

Status ServiceClient::Kill(const std::string& id, const std::string& exec_id, uint32_t signal, bool all) {
  task::KillRequest req;
  req.set_id(id);
  req.set_exec_id(exec_id);
  req.set_signal(signal);
  req.set_all(all);
  wkt::Empty r;
  return Call("Kill", req, &r, kControl);
}

Result<task::WaitResponse> ServiceClient::Wait(const std::string& id, const std::string& exec_id) {
  task::WaitRequest req;
  req.set_id(id);
  req.set_exec_id(exec_id);
  task::WaitResponse r;
  RETURN_IF_ERROR(Call("Wait", req, &r, std::chrono::milliseconds(0)));
  return r;
}

Status ServiceClient::Exec(const task::ExecProcessRequest& req) {
  wkt::Empty r;
  return Call("Exec", req, &r, kControl);
}

Result<task::StatsResponse> ServiceClient::Stats(const std::string& id) {
  task::StatsRequest req;
  req.set_id(id);
  task::StatsResponse r;
  RETURN_IF_ERROR(Call("Stats", req, &r, kControl));
  return r;
}

Status ServiceClient::Pause(const std::string& id) {
  task::PauseRequest req;
  req.set_id(id);
  wkt::Empty r;
  return Call("Pause", req, &r, kControl);
}

Status ServiceClient::Resume(const std::string& id) {
  task::ResumeRequest req;
  req.set_id(id);
  wkt::Empty r;
  return Call("Resume", req, &r, kControl);
}

Status ServiceClient::Update(const std::string& id, const std::string& resources_json) {
  task::UpdateTaskRequest req;
  req.set_id(id);
  req.mutable_resources()->set_type_url("types.containerd.io/opencontainers/runtime-spec/1/LinuxResources");
  req.mutable_resources()->set_value(resources_json);
  wkt::Empty r;
  return Call("Update", req, &r, kControl);
}

Result<task::DeleteResponse> ServiceClient::Delete(const std::string& id) {
  task::DeleteRequest req;
  req.set_id(id);
  task::DeleteResponse r;
  RETURN_IF_ERROR(Call("Delete", req, &r, kControl));
  return r;
}

Status ServiceClient::Shutdown(const std::string& id) {
  task::ShutdownRequest req;
  req.set_id(id);
  req.set_now(true);
  wkt::Empty r;
  Status st = Call("Shutdown", req, &r, std::chrono::milliseconds(5000));
  // The service may exit before its reply reaches us.
  return st.code() == Code::kUnavailable ? Status::Ok() : st;
}

}  // namespace kata::cli
