// Spec -> JSON with the Go runtime-spec omitempty rules, so the output reads
// like what containerd or runc would write.
#include "oci/spec_json.h"

namespace kata::oci {
namespace {

using nlohmann::json;

template <typename T>
void PutIfNotEmpty(json& j, const char* key, const T& v) {
  if (!v.empty()) j[key] = v;
}

json ToJson(const Hook& h) {
  json j = {{"path", h.path}};
  PutIfNotEmpty(j, "args", h.args);
  PutIfNotEmpty(j, "env", h.env);
  if (h.timeout) j["timeout"] = *h.timeout;
  return j;
}

void PutHooks(json& j, const char* key, const std::vector<Hook>& hooks) {
  if (hooks.empty()) return;
  json arr = json::array();
  for (const Hook& h : hooks) arr.push_back(ToJson(h));
  j[key] = std::move(arr);
}

json ToJson(const Hooks& h) {
  json j = json::object();
  PutHooks(j, "prestart", h.prestart);
  PutHooks(j, "createRuntime", h.create_runtime);
  PutHooks(j, "createContainer", h.create_container);
  PutHooks(j, "startContainer", h.start_container);
  PutHooks(j, "poststart", h.poststart);
  PutHooks(j, "poststop", h.poststop);
  return j;
}

json ToJson(const std::vector<IdMapping>& maps) {
  json arr = json::array();
  for (const IdMapping& m : maps) {
    arr.push_back({{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}});
  }
  return arr;
}

json ToJson(const Linux& l) {
  json j = json::object();
  if (!l.namespaces.empty()) {
    json arr = json::array();
    for (const Namespace& ns : l.namespaces) {
      json n = {{"type", ns.type}};
      PutIfNotEmpty(n, "path", ns.path);
      arr.push_back(std::move(n));
    }
    j["namespaces"] = std::move(arr);
  }
  if (!l.uid_mappings.empty()) j["uidMappings"] = ToJson(l.uid_mappings);
  if (!l.gid_mappings.empty()) j["gidMappings"] = ToJson(l.gid_mappings);
  PutIfNotEmpty(j, "sysctl", l.sysctl);
  if (l.resources) j["resources"] = l.resources->raw;
  PutIfNotEmpty(j, "cgroupsPath", l.cgroups_path);
  if (!l.devices.empty()) {
    json arr = json::array();
    for (const Device& d : l.devices) {
      json o = {{"type", d.type}, {"path", d.path}, {"major", d.major}, {"minor", d.minor}};
      if (d.file_mode) o["fileMode"] = *d.file_mode;
      if (d.uid) o["uid"] = *d.uid;
      if (d.gid) o["gid"] = *d.gid;
      arr.push_back(std::move(o));
    }
    j["devices"] = std::move(arr);
  }
  if (!l.seccomp.is_null()) j["seccomp"] = l.seccomp;
  PutIfNotEmpty(j, "maskedPaths", l.masked_paths);
  PutIfNotEmpty(j, "readonlyPaths", l.readonly_paths);
  PutIfNotEmpty(j, "rootfsPropagation", l.rootfs_propagation);
  PutIfNotEmpty(j, "mountLabel", l.mount_label);
  return j;
}

}  // namespace

json ToJson(const Process& p) {
  json j = json::object();
  if (p.terminal) j["terminal"] = true;
  if (p.console_size) {
    j["consoleSize"] = {{"height", p.console_size->height}, {"width", p.console_size->width}};
  }
  json user = {{"uid", p.user.uid}, {"gid", p.user.gid}};
  if (p.user.umask) user["umask"] = *p.user.umask;
  PutIfNotEmpty(user, "additionalGids", p.user.additional_gids);
  PutIfNotEmpty(user, "username", p.user.username);
  j["user"] = std::move(user);
  PutIfNotEmpty(j, "args", p.args);
  PutIfNotEmpty(j, "env", p.env);
  j["cwd"] = p.cwd;
  if (p.capabilities) {
    json caps = json::object();
    PutIfNotEmpty(caps, "bounding", p.capabilities->bounding);
    PutIfNotEmpty(caps, "effective", p.capabilities->effective);
    PutIfNotEmpty(caps, "inheritable", p.capabilities->inheritable);
    PutIfNotEmpty(caps, "permitted", p.capabilities->permitted);
    PutIfNotEmpty(caps, "ambient", p.capabilities->ambient);
    j["capabilities"] = std::move(caps);
  }
  if (!p.rlimits.empty()) {
    json arr = json::array();
    for (const Rlimit& r : p.rlimits) arr.push_back({{"type", r.type}, {"hard", r.hard}, {"soft", r.soft}});
    j["rlimits"] = std::move(arr);
  }
  if (p.no_new_privileges) j["noNewPrivileges"] = true;
  PutIfNotEmpty(j, "apparmorProfile", p.apparmor_profile);
  if (p.oom_score_adj) j["oomScoreAdj"] = *p.oom_score_adj;
  PutIfNotEmpty(j, "selinuxLabel", p.selinux_label);
  return j;
}

json ToJson(const Spec& s) {
  json j = {{"ociVersion", s.oci_version}};
  if (s.process) j["process"] = ToJson(*s.process);
  json root = {{"path", s.root.path}};
  if (s.root.readonly) root["readonly"] = true;
  j["root"] = std::move(root);
  PutIfNotEmpty(j, "hostname", s.hostname);
  PutIfNotEmpty(j, "domainname", s.domainname);
  if (!s.mounts.empty()) {
    json arr = json::array();
    for (const Mount& m : s.mounts) {
      json o = {{"destination", m.destination}};
      PutIfNotEmpty(o, "type", m.type);
      PutIfNotEmpty(o, "source", m.source);
      PutIfNotEmpty(o, "options", m.options);
      arr.push_back(std::move(o));
    }
    j["mounts"] = std::move(arr);
  }
  if (s.hooks) j["hooks"] = ToJson(*s.hooks);
  PutIfNotEmpty(j, "annotations", s.annotations);
  if (s.linux_config) j["linux"] = ToJson(*s.linux_config);
  return j;
}

}  // namespace kata::oci
