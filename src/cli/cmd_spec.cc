// `spec` writes runc's template config.json; `features` describes what this
// runtime supports, in runc's (runtime-spec features.md) format.
#include <unistd.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/fs.h"
#include "oci/default_spec.h"

namespace kata::cli {
namespace {

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
    Status st = fs::WriteFileAtomic(path, oci::DefaultSpec().dump(2) + "\n", 0666);
    if (!st.ok()) {
      ReportError(g, st.message());
      *exit_code = 1;
    }
  });
  auto* feat = app.add_subcommand("features", "show the enabled features (JSON)");
  feat->callback([] { std::printf("%s\n", Features().dump(4).c_str()); });
}

}  // namespace kata::cli
