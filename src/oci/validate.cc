// Content rules for a parsed Spec: what runc and the runtime-spec reject.
#include <sys/resource.h>

#include <cctype>
#include <set>

#include "common/json_escape.h"
#include "oci/json_fields.h"
#include "oci/namespace_types.h"
#include "oci/spec_json.h"

namespace kata::oci {
namespace {

using internal::FieldError;
using internal::Index;

std::string Quote(const std::string& s) { return JsonQuote(s); }

bool IsAbs(const std::string& p) { return !p.empty() && p[0] == '/'; }

Status RequireAbsPath(const std::string& field, const std::string& value) {
  if (value.empty()) return FieldError(field, "is required");
  if (!IsAbs(value)) return FieldError(field, Quote(value) + " must be an absolute path");
  return {};
}

// "1.0.2", "1.2.0-rc.1", "1.0.2-dev": semver with major version 1.
bool IsValidOciVersion(const std::string& v) {
  size_t i = 0;
  auto number = [&]() {
    size_t start = i;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i;
    return i > start;
  };
  size_t major_start = i;
  if (!number()) return false;
  std::string major = v.substr(major_start, i - major_start);
  for (int part = 0; part < 2; ++part) {
    if (i >= v.size() || v[i] != '.') return false;
    ++i;
    if (!number()) return false;
  }
  if (i < v.size() && v[i] != '-' && v[i] != '+') return false;
  if (i < v.size()) {
    if (i + 1 >= v.size()) return false;
    for (size_t k = i + 1; k < v.size(); ++k) {
      unsigned char c = static_cast<unsigned char>(v[k]);
      if (!std::isalnum(c) && c != '.' && c != '-' && c != '+') return false;
    }
  }
  return major == "1";
}

Status ValidateHooks(const std::string& name, const std::vector<Hook>& hooks) {
  for (size_t i = 0; i < hooks.size(); ++i) {
    std::string p = Index("hooks." + name, i);
    RETURN_IF_ERROR(RequireAbsPath(p + ".path", hooks[i].path));
    if (hooks[i].timeout && *hooks[i].timeout <= 0) {
      return FieldError(p + ".timeout", "must be greater than zero");
    }
  }
  return {};
}

Status ValidateIdMappings(const std::string& field, const std::vector<IdMapping>& maps) {
  for (size_t i = 0; i < maps.size(); ++i) {
    if (maps[i].size == 0) return FieldError(Index(field, i) + ".size", "must be greater than zero");
  }
  return {};
}

Status ValidateLinux(const Linux& l) {
  std::set<std::string> seen;
  for (size_t i = 0; i < l.namespaces.size(); ++i) {
    const Namespace& ns = l.namespaces[i];
    std::string p = Index("linux.namespaces", i);
    if (ns.type.empty()) return FieldError(p + ".type", "is required");
    if (!IsKnownNamespaceType(ns.type)) {
      return FieldError(p + ".type", Quote(ns.type) +
                                         " is not a namespace type (pid, network, mount, ipc, "
                                         "uts, user, cgroup, time)");
    }
    if (!seen.insert(ns.type).second) {
      return FieldError("linux.namespaces", "has more than one " + Quote(ns.type) + " namespace");
    }
    if (!ns.path.empty()) RETURN_IF_ERROR(RequireAbsPath(p + ".path", ns.path));
  }
  RETURN_IF_ERROR(ValidateIdMappings("linux.uidMappings", l.uid_mappings));
  RETURN_IF_ERROR(ValidateIdMappings("linux.gidMappings", l.gid_mappings));
  for (const auto& [key, value] : l.sysctl) {
    if (key.empty()) return FieldError("linux.sysctl", "has an empty key");
  }
  for (size_t i = 0; i < l.devices.size(); ++i) {
    const Device& d = l.devices[i];
    std::string p = Index("linux.devices", i);
    if (d.type != "c" && d.type != "b" && d.type != "u" && d.type != "p") {
      return FieldError(p + ".type", Quote(d.type) + " must be one of c, b, u, p");
    }
    RETURN_IF_ERROR(RequireAbsPath(p + ".path", d.path));
  }
  for (size_t i = 0; i < l.masked_paths.size(); ++i) {
    RETURN_IF_ERROR(RequireAbsPath(Index("linux.maskedPaths", i), l.masked_paths[i]));
  }
  for (size_t i = 0; i < l.readonly_paths.size(); ++i) {
    RETURN_IF_ERROR(RequireAbsPath(Index("linux.readonlyPaths", i), l.readonly_paths[i]));
  }
  static const std::set<std::string> kPropagation = {"",        "private", "rprivate",   "slave",
                                                     "rslave",  "shared",  "rshared",    "unbindable",
                                                     "runbindable"};
  if (!kPropagation.count(l.rootfs_propagation)) {
    return FieldError("linux.rootfsPropagation", Quote(l.rootfs_propagation) +
                                                     " must be one of private, rprivate, slave, "
                                                     "rslave, shared, rshared, unbindable, runbindable");
  }
  return {};
}

}  // namespace

int RlimitResource(const std::string& type) {
  static const std::pair<const char*, int> kLimits[] = {
      {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_CORE", RLIMIT_CORE},
      {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_DATA", RLIMIT_DATA},
      {"RLIMIT_FSIZE", RLIMIT_FSIZE},     {"RLIMIT_LOCKS", RLIMIT_LOCKS},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
      {"RLIMIT_NICE", RLIMIT_NICE},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
      {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},
      {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK},
  };
  for (const auto& [name, res] : kLimits) {
    if (type == name) return res;
  }
  return -1;
}

bool IsKnownNamespaceType(const std::string& type) { return FindNamespaceType(type) != nullptr; }

Status ValidateProcess(const Process& p) {
  if (p.args.empty()) return FieldError("process.args", "is required and must not be empty");
  if (p.args[0].empty()) return FieldError("process.args[0]", "must not be empty");
  RETURN_IF_ERROR(RequireAbsPath("process.cwd", p.cwd));
  for (size_t i = 0; i < p.env.size(); ++i) {
    const std::string& e = p.env[i];
    size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0 || e.find('\0') != std::string::npos) {
      return FieldError(Index("process.env", i), Quote(e) + " must have the form KEY=VALUE");
    }
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < p.rlimits.size(); ++i) {
    const Rlimit& r = p.rlimits[i];
    std::string field = Index("process.rlimits", i);
    if (RlimitResource(r.type) < 0) {
      return FieldError(field + ".type", Quote(r.type) + " is not a known rlimit");
    }
    if (!seen.insert(r.type).second) {
      return FieldError("process.rlimits", "sets " + r.type + " more than once");
    }
    if (r.soft > r.hard) {
      return FieldError(field, "soft limit " + std::to_string(r.soft) + " exceeds hard limit " +
                                   std::to_string(r.hard));
    }
  }
  return {};
}

Status ValidateSpec(const Spec& s) {
  if (s.oci_version.empty()) return FieldError("ociVersion", "is required");
  if (!IsValidOciVersion(s.oci_version)) {
    return FieldError("ociVersion", Quote(s.oci_version) + " is not a supported version (want 1.x.y)");
  }
  if (s.root.path.empty()) return FieldError("root.path", "is required");
  if (s.process) RETURN_IF_ERROR(ValidateProcess(*s.process));
  for (size_t i = 0; i < s.mounts.size(); ++i) {
    RETURN_IF_ERROR(RequireAbsPath(Index("mounts", i) + ".destination", s.mounts[i].destination));
  }
  if (s.hooks) {
    RETURN_IF_ERROR(ValidateHooks("prestart", s.hooks->prestart));
    RETURN_IF_ERROR(ValidateHooks("createRuntime", s.hooks->create_runtime));
    RETURN_IF_ERROR(ValidateHooks("createContainer", s.hooks->create_container));
    RETURN_IF_ERROR(ValidateHooks("startContainer", s.hooks->start_container));
    RETURN_IF_ERROR(ValidateHooks("poststart", s.hooks->poststart));
    RETURN_IF_ERROR(ValidateHooks("poststop", s.hooks->poststop));
  }
  if (s.linux_config) RETURN_IF_ERROR(ValidateLinux(*s.linux_config));
  return {};
}

}  // namespace kata::oci
