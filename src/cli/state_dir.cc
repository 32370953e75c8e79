#include "cli/state_dir.h"

#include <regex>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/sha256.h"

namespace kata::cli {

std::string StateDirOf(const GlobalOptions& g, const std::string& id) { return fs::JoinPath(g.root, id); }
// Unix socket paths are limited to 108 bytes and container ids can be 64
// hex digits (podman): the socket lives under a short name derived from the
// state directory, like containerd's /run/containerd/s/<hash>.
std::string ServiceSocketOf(const GlobalOptions& g, const std::string& id) {
  return "/run/kata-containers/s/" + Sha256Hex(StateDirOf(g, id)).substr(0, 32);
}

Status ValidateId(const std::string& id) {
  static const std::regex kValid("^[\\w+\\-\\.]+$");
  if (id.empty()) return Error(Code::kInvalidArgument, "container id cannot be empty");
  if (!std::regex_match(id, kValid) || id == "." || id == "..") {
    return Error(Code::kInvalidArgument, "invalid container id format: " + id);
  }
  if (id.size() > 200) return Error(Code::kInvalidArgument, "container id too long: " + id);
  return Status::Ok();
}

Status SaveRecord(const GlobalOptions& g, const ContainerRecord& r) {
  nlohmann::json j = {
      {"id", r.id},
      {"bundle", r.bundle},
      {"rootfs", r.rootfs},
      {"monitor_pid", r.monitor_pid},
      {"service_pid", r.service_pid},
      {"created_ns", std::chrono::duration_cast<std::chrono::nanoseconds>(r.created.time_since_epoch()).count()},
  };
  return fs::WriteFileAtomic(fs::JoinPath(StateDirOf(g, r.id), "state.json"), j.dump(), 0600);
}

Result<ContainerRecord> LoadRecord(const GlobalOptions& g, const std::string& id) {
  RETURN_IF_ERROR(ValidateId(id));
  auto text = fs::ReadFile(fs::JoinPath(StateDirOf(g, id), "state.json"));
  if (!text.ok()) return Error(Code::kNotFound, "container does not exist");
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return Error(Code::kDataLoss, "state of container " + id + " is corrupt");
  ContainerRecord r;
  r.id = j.value("id", id);
  r.bundle = j.value("bundle", "");
  r.rootfs = j.value("rootfs", "");
  r.monitor_pid = j.value("monitor_pid", 0);
  r.service_pid = j.value("service_pid", 0);
  r.created = std::chrono::system_clock::time_point(std::chrono::nanoseconds(j.value("created_ns", int64_t{0})));
  return r;
}

}  // namespace kata::cli
