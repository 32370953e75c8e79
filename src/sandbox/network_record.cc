#include "sandbox/network_record.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/json_parse.h"
#include "common/fs.h"
#include "net/netlink.h"
#include "sandbox/netns.h"

namespace kata::sandbox {
namespace {

std::string RecordPath(const std::string& run_dir) { return fs::JoinPath(run_dir, "network.json"); }

nlohmann::json ToJson(const NetworkRecord& r) {
  nlohmann::json mirrors = nlohmann::json::array();
  for (const Mirror& m : r.mirrors) {
    mirrors.push_back({{"ifindex", m.ifindex}, {"name", m.name}, {"qdisc_existed", m.qdisc_existed}});
  }
  return {{"netns_path", r.netns_path}, {"netns_dev", r.netns_dev}, {"netns_ino", r.netns_ino}, {"mirrors", mirrors}};
}

Result<NetworkRecord> FromJson(const std::string& text, const std::string& path) {
  auto parsed = ParseJsonBounded(text, path);
  if (!parsed.ok() || !parsed->is_object()) return Error(Code::kDataLoss, path + " is not valid JSON");
  const nlohmann::json& j = *parsed;
  NetworkRecord r;
  r.netns_path = j.value("netns_path", "");
  r.netns_dev = j.value("netns_dev", uint64_t{0});
  r.netns_ino = j.value("netns_ino", uint64_t{0});
  if (j.contains("mirrors") && j["mirrors"].is_array()) {
    for (const auto& m : j["mirrors"]) {
      if (!m.is_object()) continue;
      r.mirrors.push_back(Mirror{m.value("ifindex", 0), m.value("name", ""), m.value("qdisc_existed", true)});
    }
  }
  return r;
}

}  // namespace

Status SaveNetworkRecord(const std::string& run_dir, const NetworkRecord& r) {
  return fs::WriteFileAtomic(RecordPath(run_dir), ToJson(r).dump(), 0600);
}

Status UndoNetworkRecord(const std::string& run_dir) {
  std::string path = RecordPath(run_dir);
  auto text = fs::ReadFile(path);
  if (!text.ok()) return Status::Ok();
  ASSIGN_OR_RETURN(NetworkRecord r, FromJson(*text, path));
  auto ns = NetNs::Open(r.netns_path);
  struct stat st {};
  bool same_ns = ns.ok() && fstat(ns->fd(), &st) == 0 && st.st_dev == r.netns_dev && st.st_ino == r.netns_ino;
  if (same_ns) {
    RETURN_IF_ERROR(ns->Run([&]() -> Status {
      ASSIGN_OR_RETURN(net::Socket sk, net::Connect());
      for (const Mirror& m : r.mirrors) RETURN_IF_ERROR(RemoveMirror(sk.get(), m));
      return Status::Ok();
    }).Wrap("undo the pod network recorded in " + path));
  }
  unlink(path.c_str());
  return Status::Ok();
}

}  // namespace kata::sandbox
