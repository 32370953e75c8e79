// containerd.task.v2.Task served over ttrpc: the one implementation of "a
// sandbox and its containers". containerd talks to it directly; kata-runtime
// (the OCI command line) is a client of the same service.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "config/config.h"
#include "sandbox/container.h"
#include "sandbox/sandbox.h"
#include "ttrpc/server.h"

namespace kata::shim {

class TaskService {
 public:
  // `on_shutdown` is called when Shutdown leaves the service with nothing to serve.
  TaskService(config::LoadedConfig cfg, std::function<void()> on_shutdown)
      : cfg_(std::move(cfg)), on_shutdown_(std::move(on_shutdown)) {}
  void Register(ttrpc::Server& server);
  // Deletes every container and stops the VM (service exit, SIGTERM).
  void Teardown();

 private:
  Result<sandbox::Container*> Find(const std::string& id);
  uint32_t TaskPid();

  config::LoadedConfig cfg_;
  std::function<void()> on_shutdown_;
  std::mutex mu_;  // guards sandbox_ and containers_ (not held across waits)
  std::unique_ptr<sandbox::Sandbox> sandbox_;
  std::map<std::string, std::unique_ptr<sandbox::Container>> containers_;
  std::set<std::string> mounted_rootfs_;  // bundles whose rootfs this shim mounted
};

}  // namespace kata::shim
