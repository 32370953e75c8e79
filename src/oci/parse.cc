// JSON -> Spec: type checks only; content rules are in validate.cc.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "oci/json_fields.h"
#include "common/json_parse.h"
#include "common/unique_fd.h"
#include "oci/spec_json.h"

namespace kata::oci {
namespace {

using internal::FieldError;
using internal::Index;
using internal::Join;
using internal::ReadArray;
using internal::ReadBool;
using internal::ReadInt;
using internal::ReadObject;
using internal::ReadString;
using internal::ReadStringMap;
using internal::ReadStrings;
using nlohmann::json;

// Calls parse(element, element_path) for each element of the array `key`,
// which must hold objects.
template <typename T, typename F>
Status ReadObjects(const json& obj, const char* key, const std::string& path, std::vector<T>* out,
                   F parse) {
  const json* arr = nullptr;
  RETURN_IF_ERROR(ReadArray(obj, key, path, &arr));
  if (arr == nullptr) return {};
  std::vector<T> result(arr->size());
  for (size_t i = 0; i < arr->size(); ++i) {
    std::string p = Index(Join(path, key), i);
    if (!(*arr)[i].is_object()) return FieldError(p, "must be an object");
    RETURN_IF_ERROR(parse((*arr)[i], p, &result[i]));
  }
  *out = std::move(result);
  return {};
}

Status ParseUser(const json& j, const std::string& p, User* u) {
  RETURN_IF_ERROR(ReadInt(j, "uid", p, &u->uid));
  RETURN_IF_ERROR(ReadInt(j, "gid", p, &u->gid));
  RETURN_IF_ERROR(ReadInt(j, "umask", p, &u->umask));
  RETURN_IF_ERROR(ReadString(j, "username", p, &u->username));
  const json* gids = nullptr;
  RETURN_IF_ERROR(ReadArray(j, "additionalGids", p, &gids));
  if (gids != nullptr) {
    for (size_t i = 0; i < gids->size(); ++i) {
      const json& g = (*gids)[i];
      if (!g.is_number_unsigned() || g.get<uint64_t>() > UINT32_MAX) {
        return FieldError(Index(Join(p, "additionalGids"), i), "must be an integer in [0, 4294967295]");
      }
      u->additional_gids.push_back(static_cast<uint32_t>(g.get<uint64_t>()));
    }
  }
  return {};
}

Status ParseCapabilities(const json& j, const std::string& p, Capabilities* c) {
  RETURN_IF_ERROR(ReadStrings(j, "bounding", p, &c->bounding));
  RETURN_IF_ERROR(ReadStrings(j, "effective", p, &c->effective));
  RETURN_IF_ERROR(ReadStrings(j, "inheritable", p, &c->inheritable));
  RETURN_IF_ERROR(ReadStrings(j, "permitted", p, &c->permitted));
  RETURN_IF_ERROR(ReadStrings(j, "ambient", p, &c->ambient));
  return {};
}

Status ParseRlimit(const json& j, const std::string& p, Rlimit* r) {
  RETURN_IF_ERROR(ReadString(j, "type", p, &r->type));
  RETURN_IF_ERROR(ReadInt(j, "hard", p, &r->hard));
  RETURN_IF_ERROR(ReadInt(j, "soft", p, &r->soft));
  return {};
}

Status ParseProcessAt(const json& j, const std::string& p, Process* proc) {
  RETURN_IF_ERROR(ReadBool(j, "terminal", p, &proc->terminal));
  const json* obj = nullptr;
  RETURN_IF_ERROR(ReadObject(j, "consoleSize", p, &obj));
  if (obj != nullptr) {
    ConsoleSize cs;
    RETURN_IF_ERROR(ReadInt(*obj, "height", Join(p, "consoleSize"), &cs.height));
    RETURN_IF_ERROR(ReadInt(*obj, "width", Join(p, "consoleSize"), &cs.width));
    proc->console_size = cs;
  }
  RETURN_IF_ERROR(ReadObject(j, "user", p, &obj));
  if (obj != nullptr) RETURN_IF_ERROR(ParseUser(*obj, Join(p, "user"), &proc->user));
  RETURN_IF_ERROR(ReadStrings(j, "args", p, &proc->args));
  RETURN_IF_ERROR(ReadStrings(j, "env", p, &proc->env));
  RETURN_IF_ERROR(ReadString(j, "cwd", p, &proc->cwd));
  RETURN_IF_ERROR(ReadObject(j, "capabilities", p, &obj));
  if (obj != nullptr) {
    Capabilities caps;
    RETURN_IF_ERROR(ParseCapabilities(*obj, Join(p, "capabilities"), &caps));
    proc->capabilities = std::move(caps);
  }
  RETURN_IF_ERROR(ReadObjects(j, "rlimits", p, &proc->rlimits, ParseRlimit));
  RETURN_IF_ERROR(ReadBool(j, "noNewPrivileges", p, &proc->no_new_privileges));
  RETURN_IF_ERROR(ReadString(j, "apparmorProfile", p, &proc->apparmor_profile));
  RETURN_IF_ERROR(ReadInt(j, "oomScoreAdj", p, &proc->oom_score_adj));
  RETURN_IF_ERROR(ReadString(j, "selinuxLabel", p, &proc->selinux_label));
  return {};
}

Status ParseMount(const json& j, const std::string& p, Mount* m) {
  RETURN_IF_ERROR(ReadString(j, "destination", p, &m->destination));
  RETURN_IF_ERROR(ReadString(j, "type", p, &m->type));
  RETURN_IF_ERROR(ReadString(j, "source", p, &m->source));
  RETURN_IF_ERROR(ReadStrings(j, "options", p, &m->options));
  return {};
}

Status ParseHook(const json& j, const std::string& p, Hook* h) {
  RETURN_IF_ERROR(ReadString(j, "path", p, &h->path));
  RETURN_IF_ERROR(ReadStrings(j, "args", p, &h->args));
  RETURN_IF_ERROR(ReadStrings(j, "env", p, &h->env));
  RETURN_IF_ERROR(ReadInt(j, "timeout", p, &h->timeout));
  return {};
}

Status ParseHooks(const json& j, const std::string& p, Hooks* h) {
  RETURN_IF_ERROR(ReadObjects(j, "prestart", p, &h->prestart, ParseHook));
  RETURN_IF_ERROR(ReadObjects(j, "createRuntime", p, &h->create_runtime, ParseHook));
  RETURN_IF_ERROR(ReadObjects(j, "createContainer", p, &h->create_container, ParseHook));
  RETURN_IF_ERROR(ReadObjects(j, "startContainer", p, &h->start_container, ParseHook));
  RETURN_IF_ERROR(ReadObjects(j, "poststart", p, &h->poststart, ParseHook));
  RETURN_IF_ERROR(ReadObjects(j, "poststop", p, &h->poststop, ParseHook));
  return {};
}

Status ParseNamespace(const json& j, const std::string& p, Namespace* ns) {
  RETURN_IF_ERROR(ReadString(j, "type", p, &ns->type));
  RETURN_IF_ERROR(ReadString(j, "path", p, &ns->path));
  return {};
}

Status ParseIdMapping(const json& j, const std::string& p, IdMapping* m) {
  RETURN_IF_ERROR(ReadInt(j, "containerID", p, &m->container_id));
  RETURN_IF_ERROR(ReadInt(j, "hostID", p, &m->host_id));
  RETURN_IF_ERROR(ReadInt(j, "size", p, &m->size));
  return {};
}

Status ParseDevice(const json& j, const std::string& p, Device* d) {
  RETURN_IF_ERROR(ReadString(j, "type", p, &d->type));
  RETURN_IF_ERROR(ReadString(j, "path", p, &d->path));
  RETURN_IF_ERROR(ReadInt(j, "major", p, &d->major));
  RETURN_IF_ERROR(ReadInt(j, "minor", p, &d->minor));
  RETURN_IF_ERROR(ReadInt(j, "fileMode", p, &d->file_mode));
  RETURN_IF_ERROR(ReadInt(j, "uid", p, &d->uid));
  RETURN_IF_ERROR(ReadInt(j, "gid", p, &d->gid));
  return {};
}

Status ParseResources(const json& j, const std::string& p, Resources* r) {
  r->raw = j;
  const json* obj = nullptr;
  RETURN_IF_ERROR(ReadObject(j, "memory", p, &obj));
  if (obj != nullptr) {
    std::string mp = Join(p, "memory");
    RETURN_IF_ERROR(ReadInt(*obj, "limit", mp, &r->memory_limit));
    RETURN_IF_ERROR(ReadInt(*obj, "reservation", mp, &r->memory_reservation));
    RETURN_IF_ERROR(ReadInt(*obj, "swap", mp, &r->memory_swap));
  }
  RETURN_IF_ERROR(ReadObject(j, "cpu", p, &obj));
  if (obj != nullptr) {
    std::string cp = Join(p, "cpu");
    RETURN_IF_ERROR(ReadInt(*obj, "shares", cp, &r->cpu_shares));
    RETURN_IF_ERROR(ReadInt(*obj, "quota", cp, &r->cpu_quota));
    RETURN_IF_ERROR(ReadInt(*obj, "period", cp, &r->cpu_period));
    RETURN_IF_ERROR(ReadString(*obj, "cpus", cp, &r->cpuset_cpus));
    RETURN_IF_ERROR(ReadString(*obj, "mems", cp, &r->cpuset_mems));
  }
  RETURN_IF_ERROR(ReadObject(j, "pids", p, &obj));
  if (obj != nullptr) RETURN_IF_ERROR(ReadInt(*obj, "limit", Join(p, "pids"), &r->pids_limit));
  return {};
}

Status ParseLinux(const json& j, const std::string& p, Linux* l) {
  RETURN_IF_ERROR(ReadObjects(j, "namespaces", p, &l->namespaces, ParseNamespace));
  RETURN_IF_ERROR(ReadObjects(j, "uidMappings", p, &l->uid_mappings, ParseIdMapping));
  RETURN_IF_ERROR(ReadObjects(j, "gidMappings", p, &l->gid_mappings, ParseIdMapping));
  RETURN_IF_ERROR(ReadStringMap(j, "sysctl", p, &l->sysctl));
  const json* obj = nullptr;
  RETURN_IF_ERROR(ReadObject(j, "resources", p, &obj));
  if (obj != nullptr) {
    Resources r;
    RETURN_IF_ERROR(ParseResources(*obj, Join(p, "resources"), &r));
    l->resources = std::move(r);
  }
  RETURN_IF_ERROR(ReadString(j, "cgroupsPath", p, &l->cgroups_path));
  RETURN_IF_ERROR(ReadObjects(j, "devices", p, &l->devices, ParseDevice));
  RETURN_IF_ERROR(ReadObject(j, "seccomp", p, &obj));
  if (obj != nullptr) l->seccomp = *obj;
  RETURN_IF_ERROR(ReadStrings(j, "maskedPaths", p, &l->masked_paths));
  RETURN_IF_ERROR(ReadStrings(j, "readonlyPaths", p, &l->readonly_paths));
  RETURN_IF_ERROR(ReadString(j, "rootfsPropagation", p, &l->rootfs_propagation));
  RETURN_IF_ERROR(ReadString(j, "mountLabel", p, &l->mount_label));
  return {};
}

Status ParseSpecFields(const json& j, Spec* s) {
  if (!j.is_object()) return Error(Code::kInvalidArgument, "the document must be a JSON object");
  if (!j.contains("ociVersion") || j["ociVersion"].is_null()) {
    return Error(Code::kInvalidArgument, "ociVersion is required");
  }
  RETURN_IF_ERROR(ReadString(j, "ociVersion", "", &s->oci_version));
  const json* obj = nullptr;
  RETURN_IF_ERROR(ReadObject(j, "process", "", &obj));
  if (obj != nullptr) {
    Process proc;
    RETURN_IF_ERROR(ParseProcessAt(*obj, "process", &proc));
    s->process = std::move(proc);
  }
  RETURN_IF_ERROR(ReadObject(j, "root", "", &obj));
  if (obj != nullptr) {
    RETURN_IF_ERROR(ReadString(*obj, "path", "root", &s->root.path));
    RETURN_IF_ERROR(ReadBool(*obj, "readonly", "root", &s->root.readonly));
  }
  RETURN_IF_ERROR(ReadString(j, "hostname", "", &s->hostname));
  RETURN_IF_ERROR(ReadString(j, "domainname", "", &s->domainname));
  RETURN_IF_ERROR(ReadObjects(j, "mounts", "", &s->mounts, ParseMount));
  RETURN_IF_ERROR(ReadObject(j, "hooks", "", &obj));
  if (obj != nullptr) {
    Hooks hooks;
    RETURN_IF_ERROR(ParseHooks(*obj, "hooks", &hooks));
    s->hooks = std::move(hooks);
  }
  RETURN_IF_ERROR(ReadStringMap(j, "annotations", "", &s->annotations));
  RETURN_IF_ERROR(ReadObject(j, "linux", "", &obj));
  if (obj != nullptr) {
    Linux l;
    RETURN_IF_ERROR(ParseLinux(*obj, "linux", &l));
    s->linux_config = std::move(l);
  }
  return {};
}

}  // namespace

Result<Spec> ParseSpec(const nlohmann::json& doc) {
  Spec spec;
  Status st = ParseSpecFields(doc, &spec);
  if (st.ok()) st = ValidateSpec(spec);
  if (!st.ok()) return st.Wrap("config.json");
  return spec;
}

Result<Spec> ParseSpec(const std::string& json_text) {
  ASSIGN_OR_RETURN(json doc, ParseJsonBounded(json_text, "config.json"));
  return ParseSpec(doc);
}

Result<Spec> LoadSpec(const std::string& bundle_dir) {
  std::string path = bundle_dir + "/config.json";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + path);
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read " + path);
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  fd.reset();
  ASSIGN_OR_RETURN(json doc, ParseJsonBounded(text, path));  // JSON errors name the file
  return ParseSpec(doc);
}

Result<Process> ParseProcess(const nlohmann::json& j) {
  if (!j.is_object()) return Error(Code::kInvalidArgument, "process must be a JSON object");
  Process proc;
  RETURN_IF_ERROR(ParseProcessAt(j, "process", &proc));
  RETURN_IF_ERROR(ValidateProcess(proc));
  return proc;
}

Result<Process> ParseProcessJson(const std::string& json_text) {
  ASSIGN_OR_RETURN(json doc, ParseJsonBounded(json_text, "process"));
  return ParseProcess(doc);
}

Result<Resources> ParseResourcesJson(const std::string& json_text) {
  ASSIGN_OR_RETURN(json doc, ParseJsonBounded(json_text, "resources"));
  if (!doc.is_object()) return Error(Code::kInvalidArgument, "resources must be a JSON object");
  Resources r;
  RETURN_IF_ERROR(ParseResources(doc, "resources", &r));
  return r;
}

}  // namespace kata::oci
