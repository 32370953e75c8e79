// kata-runtime's per-container record under --root: which sandbox service
// serves the container and which host process callers wait on.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>

#include "cli/options.h"
#include "common/process_identity.h"
#include "common/status.h"

namespace kata::cli {

struct ContainerRecord {
  std::string id;
  std::string bundle;
  std::string rootfs;
  proc::Identity monitor;  // the pid in --pid-file: exits with the container
  proc::Identity service;  // containerd-shim-kata-v2 serving this container
  std::chrono::system_clock::time_point created;
  // The spec's annotations, as `state` reports them (runc does).
  std::map<std::string, std::string> annotations;
};

std::string StateDirOf(const GlobalOptions& g, const std::string& id);
std::string ServiceSocketOf(const GlobalOptions& g, const std::string& id);
// Refuses ids that are not path-safe, with runc's rule: 1 to kMaxIdLength
// characters from [A-Za-z0-9_+.-], not "." or "..". Every id from a caller
// goes through here before it becomes part of a path.
inline constexpr size_t kMaxIdLength = 200;
Status ValidateId(const std::string& id);
Status SaveRecord(const GlobalOptions& g, const ContainerRecord& r);
// NotFound "container <id> does not exist" when there is no record.
Result<ContainerRecord> LoadRecord(const GlobalOptions& g, const std::string& id);

}  // namespace kata::cli
