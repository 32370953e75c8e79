// kata-runtime's connection to the sandbox service (the same
// containerd.task.v2.Task API containerd uses).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"
#include "task.pb.h"
#include "ttrpc/client.h"

namespace kata::cli {

class ServiceClient {
 public:
  static Result<std::unique_ptr<ServiceClient>> Dial(const std::string& socket);
  Result<containerd::task::v2::CreateTaskResponse> Create(const containerd::task::v2::CreateTaskRequest& req);
  // exec_id "" = the container's init process.
  Status Start(const std::string& id, const std::string& exec_id = "");
  Result<containerd::task::v2::StateResponse> State(const std::string& id, const std::string& exec_id = "");
  Status Kill(const std::string& id, const std::string& exec_id, uint32_t signal, bool all);
  Result<containerd::task::v2::WaitResponse> Wait(const std::string& id, const std::string& exec_id = "");
  Status Exec(const containerd::task::v2::ExecProcessRequest& req);
  Result<containerd::task::v2::StatsResponse> Stats(const std::string& id);
  Status Pause(const std::string& id);
  Status Resume(const std::string& id);
  Status Update(const std::string& id, const std::string& resources_json);
  Result<containerd::task::v2::DeleteResponse> Delete(const std::string& id);
  Status Shutdown(const std::string& id);

 private:
  explicit ServiceClient(int fd) : client_(std::make_unique<ttrpc::Client>(fd)) {}
  template <typename Req, typename Resp>
  Status Call(const char* method, const Req& req, Resp* resp, std::chrono::milliseconds timeout);
  std::unique_ptr<ttrpc::Client> client_;
};

}  // namespace kata::cli
