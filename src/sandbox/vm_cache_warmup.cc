#include "sandbox/vm_cache_warmup.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "oci/default_spec.h"
#include "sandbox/container.h"

namespace kata::sandbox {
namespace {

using nlohmann::json;

constexpr const char* kWarmupId = "warmup";

// runc's template spec (namespaces, the usual mounts, masked paths) made
// closer to what `ctr run` and CRI create: no terminal, more capabilities, a
// cgroup, a seccomp filter. The guest code every container start runs gets
// translated once, here.
json WarmupSpec() {
  json spec = oci::DefaultSpec();
  json caps = json::array({"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                           "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                           "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"});
  json& process = spec["process"];
  process["terminal"] = false;
  process["args"] = {"/warmup", "--version"};
  process["env"] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  process["capabilities"] = {{"bounding", caps}, {"effective", caps}, {"permitted", caps}};
  spec["hostname"] = kWarmupId;
  spec["mounts"].push_back(
      {{"destination", "/run"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}});
  json& linux_config = spec["linux"];
  linux_config["cgroupsPath"] = std::string("/default/") + kWarmupId;
  linux_config["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                             {"architectures", {"SCMP_ARCH_X86_64"}},
                             {"syscalls", {{{"names", {"kexec_load", "open_by_handle_at"}}, {"action", "SCMP_ACT_ERRNO"}}}}};
  return spec;
}

}  // namespace

Result<std::string> PrepareWarmupBundle(const std::string& parent, const std::string& binary_path) {
  std::string dir = parent + "/" + std::to_string(getpid());
  RETURN_IF_ERROR(fs::RemoveAll(dir));
  RETURN_IF_ERROR(fs::MkdirAll(dir + "/rootfs", 0755));
  ASSIGN_OR_RETURN(std::string binary, fs::ReadFile(binary_path));
  RETURN_IF_ERROR(fs::WriteFileAtomic(dir + "/rootfs/warmup", binary, 0755));
  RETURN_IF_ERROR(fs::WriteFileAtomic(dir + "/output", "", 0600));
  RETURN_IF_ERROR(fs::WriteFileAtomic(dir + "/config.json", WarmupSpec().dump(2), 0600));
  return dir;
}

Status RunWarmupContainer(Sandbox& sb, const std::string& bundle) {
  StdioPaths io{"", bundle + "/output", bundle + "/output", false};
  ASSIGN_OR_RETURN(std::unique_ptr<Container> c, Container::Create(sb, kWarmupId, bundle, WarmupSpec(), io));
  Status st = c->Start();
  if (st.ok()) {
    int status = c->init().Wait().status;
    if (status != 0) st = Error(Code::kInternal, "the warm-up container exited with status " + std::to_string(status));
  }
  Status del = c->Delete(true);
  return st.ok() ? del : st;
}

}  // namespace kata::sandbox
