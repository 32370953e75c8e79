#include "sandbox/guest_spec.h"

#include <string>

#include "common/guest_paths.h"
#include "common/log.h"

namespace kata::sandbox {
namespace {

nlohmann::json* LinuxObject(nlohmann::json& spec) {
  if (!spec.is_object() || !spec.contains("linux") || !spec["linux"].is_object()) return nullptr;
  return &spec["linux"];
}

void AdaptNamespaces(nlohmann::json& lx, pid_t vmm_pid) {
  if (!lx.contains("namespaces") || !lx["namespaces"].is_array()) return;
  const std::string pod_ns = "/proc/" + std::to_string(vmm_pid) + "/ns/";
  nlohmann::json kept = nlohmann::json::array();
  for (auto& ns : lx["namespaces"]) {
    if (ns.is_object() && ns.value("type", "") == "network") continue;
    if (ns.is_object() && ns.contains("path")) {
      std::string type = ns.value("type", "");
      std::string path = ns["path"].is_string() ? ns["path"].get<std::string>() : "";
      bool pod_shared = type == "pid" || type == "ipc" || type == "uts";
      if (pod_shared && vmm_pid > 0 && path == pod_ns + type) {
        ns["path"] = std::string(kGuestSandboxNsDir) + "/" + type;
      } else {
        if (!path.empty()) log::Info("namespace " + path + " is not this VM's: the container gets a new " + type + " namespace");
        ns.erase("path");
      }
    }
    kept.push_back(ns);
  }
  lx["namespaces"] = std::move(kept);
}

void MarkPodSandbox(nlohmann::json& spec) {
  if (!spec.contains("annotations") || !spec["annotations"].is_object()) spec["annotations"] = nlohmann::json::object();
  spec["annotations"][kContainerTypeAnnotation] = kPodSandboxType;
}

void Drop(nlohmann::json& obj, const char* key, const std::string& what) {
  if (!obj.is_object() || !obj.contains(key)) return;
  obj.erase(key);
  log::Info(what + " names the host's resources: not applied in the guest");
}

void ConstrainResources(nlohmann::json& lx) {
  if (!lx.contains("resources") || !lx["resources"].is_object()) return;
  nlohmann::json& r = lx["resources"];
  Drop(r, "blockIO", "linux.resources.blockIO");
  Drop(r, "hugepageLimits", "linux.resources.hugepageLimits");
  Drop(r, "network", "linux.resources.network");
  Drop(r, "rdma", "linux.resources.rdma");
}

}  // namespace

void AdaptSpecForGuest(nlohmann::json& spec, const GuestSpecContext& ctx) {
  if (ctx.pod_sandbox) MarkPodSandbox(spec);
  nlohmann::json* lx = LinuxObject(spec);
  if (lx == nullptr) return;
  AdaptNamespaces(*lx, ctx.vmm_pid);
  ConstrainResources(*lx);
  if (!ctx.guest_seccomp) lx->erase("seccomp");
}

std::string ShareNameForMount(size_t index, const std::string& source) {
  std::string base = source.substr(source.find_last_of('/') + 1);
  if (base.empty() || base == "." || base == "..") base = "volume";
  if (base.size() > 64) base.resize(64);
  for (char& ch : base) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
    if (!ok) ch = '_';
  }
  return "mounts/" + std::to_string(index) + "-" + base;
}

}  // namespace kata::sandbox
