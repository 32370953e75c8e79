// `spec` writes runc's template config.json; `features` describes what this
// runtime supports, in runc's (runtime-spec features.md) format.
#include <unistd.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/fs.h"

namespace kata::cli {
namespace {

nlohmann::json TemplateSpec() {
  using nlohmann::json;
  json caps = json::array({"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"});
  return {
      {"ociVersion", "1.0.2-dev"},
      {"process",
       {{"terminal", true},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", {"sh"}},
        {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
        {"cwd", "/"},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"ambient", caps}}},
        {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"hostname", "runc"},
      {"mounts",
       {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
        {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
        {{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"},
         {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
        {{"destination", "/dev/shm"}, {"type", "tmpfs"}, {"source", "shm"}, {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
        {{"destination", "/dev/mqueue"}, {"type", "mqueue"}, {"source", "mqueue"}, {"options", {"nosuid", "noexec", "nodev"}}},
        {{"destination", "/sys"}, {"type", "sysfs"}, {"source", "sysfs"}, {"options", {"nosuid", "noexec", "nodev", "ro"}}}}},
      {"linux",
       {{"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
        {"namespaces", {{{"type", "pid"}}, {{"type", "network"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}}},
        {"maskedPaths", {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                         "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}},
        {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}},
  };
}

nlohmann::json Features() {
  return {
      {"ociVersionMin", "1.0.0"},
      {"ociVersionMax", "1.1.0"},
      {"hooks", {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}},
      {"mountOptions", {"ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "bind", "rbind", "private",
                        "rprivate", "shared", "rshared", "slave", "rslave", "noatime", "relatime", "strictatime"}},
      {"linux",
       {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "user", "uts"}},
        {"cgroup", {{"v1", false}, {"v2", true}, {"systemd", false}, {"systemdUser", false}}},
        {"apparmor", {{"enabled", false}}},
        {"selinux", {{"enabled", false}}}}},
      {"annotations", {{"io.katacontainers.runtime.version", KATA_VERSION}, {"org.opencontainers.runc.checkpoint.enabled", "false"}}},
  };
}

}  // namespace

void AddSpecCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  static std::string bundle = ".";
  static bool rootless = false;
  auto* cmd = app.add_subcommand("spec", "create a new specification file (config.json)");
  cmd->add_option("-b,--bundle", bundle, "path to the root of the bundle directory");
  cmd->add_flag("--rootless", rootless, "accepted for compatibility");
  cmd->callback([&g, exit_code] {
    std::string path = fs::JoinPath(bundle, "config.json");
    if (fs::Exists(path)) {
      ReportError(g, "File " + path + " exists. Remove it first");
      *exit_code = 1;
      return;
    }
    Status st = fs::WriteFileAtomic(path, TemplateSpec().dump(2) + "\n", 0666);
    if (!st.ok()) {
      ReportError(g, st.message());
      *exit_code = 1;
    }
  });
  auto* feat = app.add_subcommand("features", "show the enabled features (JSON)");
  feat->callback([] { std::printf("%s\n", Features().dump(4).c_str()); });
}

}  // namespace kata::cli
