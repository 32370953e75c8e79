#include "cli/state_dir.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/json_parse.h"
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

namespace {

bool IdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '+' ||
         c == '-' || c == '.';
}

}  // namespace

// A plain loop, not std::regex: its matcher recurses per character, and a
// long enough id from the command line overflowed the stack. The length is
// checked first so no later step (or error message) handles a huge id.
Status ValidateId(const std::string& id) {
  if (id.empty()) return Error(Code::kInvalidArgument, "container id cannot be empty");
  if (id.size() > kMaxIdLength) {
    return Error(Code::kInvalidArgument, "container id too long: " + std::to_string(id.size()) +
                                             " characters (at most " + std::to_string(kMaxIdLength) + ")");
  }
  if (!std::all_of(id.begin(), id.end(), IdChar) || id == "." || id == "..") {
    return Error(Code::kInvalidArgument,
                 "invalid container id format: " + id + " (use letters, digits and _ + - . only)");
  }
  return Status::Ok();
}

Status SaveRecord(const GlobalOptions& g, const ContainerRecord& r) {
  nlohmann::json j = {
      {"id", r.id},
      {"bundle", r.bundle},
      {"rootfs", r.rootfs},
      {"monitor_pid", r.monitor.pid},
      {"monitor_start_time", r.monitor.start_time},
      {"service_pid", r.service.pid},
      {"service_start_time", r.service.start_time},
      {"created_ns", std::chrono::duration_cast<std::chrono::nanoseconds>(r.created.time_since_epoch()).count()},
      {"annotations", r.annotations},
  };
  return fs::WriteFileAtomic(fs::JoinPath(StateDirOf(g, r.id), "state.json"), j.dump(), 0600);
}

Result<ContainerRecord> LoadRecord(const GlobalOptions& g, const std::string& id) {
  RETURN_IF_ERROR(ValidateId(id));
  auto text = fs::ReadFile(fs::JoinPath(StateDirOf(g, id), "state.json"));
  if (!text.ok()) return Error(Code::kNotFound, "container " + id + " does not exist");
  auto parsed = ParseJsonBounded(*text, "state.json");
  if (!parsed.ok() || !parsed->is_object()) return Error(Code::kDataLoss, "state of container " + id + " is corrupt");
  const nlohmann::json& j = *parsed;
  ContainerRecord r;
  try {
    r.id = j.value("id", id);
    r.bundle = j.value("bundle", "");
    r.rootfs = j.value("rootfs", "");
    // Records from before start times were kept load with 0 ("unknown").
    r.monitor = {j.value("monitor_pid", 0), j.value("monitor_start_time", uint64_t{0})};
    r.service = {j.value("service_pid", 0), j.value("service_start_time", uint64_t{0})};
    r.created = std::chrono::system_clock::time_point(std::chrono::nanoseconds(j.value("created_ns", int64_t{0})));
    if (j.contains("annotations")) r.annotations = j["annotations"].get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& e) {
    return Error(Code::kDataLoss, "state of container " + id + " is corrupt: " + e.what());
  }
  return r;
}

}  // namespace kata::cli
