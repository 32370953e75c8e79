// A minimal QMP client: capabilities handshake, then one command at a time.
// QMP output is treated as untrusted (bounded line length).
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/unique_fd.h"

namespace kata::vmm::qemu {

class QmpClient {
 public:
  ~QmpClient();
  Status Connect(const std::string& socket_path, std::chrono::milliseconds timeout);
  // Sends {"execute": cmd, "arguments": args} and returns the "return" value.
  Result<nlohmann::json> Execute(const std::string& cmd, const nlohmann::json& args = nullptr,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Same, passing `fd` along (SCM_RIGHTS), as getfd and add-fd expect.
  Result<nlohmann::json> ExecuteWithFd(const std::string& cmd, const nlohmann::json& args, int fd,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(5));
  void Close();

 private:
  Result<nlohmann::json> AwaitReturn(const std::string& cmd, std::chrono::milliseconds timeout);
  Result<nlohmann::json> ReadMessage(std::chrono::steady_clock::time_point deadline);
  UniqueFd fd_;
  std::string buf_;
};

}  // namespace kata::vmm::qemu
