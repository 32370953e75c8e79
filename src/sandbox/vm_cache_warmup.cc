#include "sandbox/vm_cache_warmup.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "sandbox/container.h"

namespace kata::sandbox {
namespace {

using nlohmann::json;

constexpr const char* kWarmupId = "warmup";

// A container like `ctr run` makes (namespaces, the usual mounts, masked
// paths, capabilities, a seccomp filter), running the warm-up binary: the
// guest code every container start runs gets translated once, here.
json WarmupSpec() {
  json caps = json::array({"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                           "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                           "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"});
  return {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", {"/warmup", "--version"}},
        {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
        {"cwd", "/"},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"hostname", kWarmupId},
      {"mounts",
       {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}, {"options", {"nosuid", "noexec", "nodev"}}},
        {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
        {{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"},
         {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
        {{"destination", "/dev/shm"}, {"type", "tmpfs"}, {"source", "shm"}, {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
        {{"destination", "/dev/mqueue"}, {"type", "mqueue"}, {"source", "mqueue"}, {"options", {"nosuid", "noexec", "nodev"}}},
        {{"destination", "/sys"}, {"type", "sysfs"}, {"source", "sysfs"}, {"options", {"nosuid", "noexec", "nodev", "ro"}}},
        {{"destination", "/run"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}}}},
      {"linux",
       {{"cgroupsPath", std::string("/default/") + kWarmupId},
        {"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
        {"namespaces", {{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}, {{"type", "network"}}}},
        {"seccomp",
         {{"defaultAction", "SCMP_ACT_ALLOW"},
          {"architectures", {"SCMP_ARCH_X86_64"}},
          {"syscalls", {{{"names", {"kexec_load", "open_by_handle_at"}}, {"action", "SCMP_ACT_ERRNO"}}}}}},
        {"maskedPaths", {"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"}},
        {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}},
  };
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
