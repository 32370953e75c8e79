// `kata-runtime check`: can this host run sandboxes? Each line says what was
// checked; failures say what to do. Exit 1 if any check fails.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "common/fs.h"
#include "config/config.h"
#include "sandbox/sandbox_config.h"

namespace kata::cli {
namespace {

struct Checker {
  int failures = 0;
  void Pass(const std::string& what) { std::printf("[ok]   %s\n", what.c_str()); }
  void Fail(const std::string& what, const std::string& remedy) {
    failures++;
    std::printf("[FAIL] %s\n       fix: %s\n", what.c_str(), remedy.c_str());
  }
  void Expect(bool ok, const std::string& what, const std::string& remedy) { ok ? Pass(what) : Fail(what, remedy); }
  void Info(const std::string& what) { std::printf("[info] %s\n", what.c_str()); }
};

// Template clones write mostly the same pages: with KSM on, the host merges
// them (BENCHMARKS.md "Template clones at ten"). A host-wide choice, so only said.
void ReportKsm(Checker& c) {
  auto run = fs::ReadFile("/sys/kernel/mm/ksm/run");
  if (!run.ok()) return c.Info("kernel same-page merging: not in this host kernel (CONFIG_KSM)");
  if (run->substr(0, 1) == "1") return c.Info("kernel same-page merging on: VM template clones share their like pages");
  c.Info("kernel same-page merging off: VM template clones would each need ~7 MiB less with it on "
         "(echo 1 > /sys/kernel/mm/ksm/run; docs/vm-templating.md)");
}

}  // namespace

void AddCheckCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand("check", "check that this host can run sandboxes");
  cmd->callback([&g, exit_code] {
    Checker c;
    c.Expect(geteuid() == 0, "running as root", "run kata-runtime as root");
    auto cfg = config::Load(g.config);
    if (!cfg.ok()) {
      c.Fail("configuration: " + cfg.status().message(), "install a configuration.toml (scripts/install.sh) or set KATA_CONF_FILE");
      *exit_code = 1;
      return;
    }
    c.Pass("configuration " + cfg->path);
    const auto& q = cfg->config.qemu;
    c.Expect(access(q.path.c_str(), X_OK) == 0, "hypervisor " + q.path,
             "apt-get install qemu-system-x86, or set hypervisor.qemu.path");
    if (q.shared_fs == "virtio-fs") {
      c.Expect(access(q.virtio_fs_daemon.c_str(), X_OK) == 0, "virtio-fs daemon " + q.virtio_fs_daemon,
               "apt-get install qemu-system-common, set hypervisor.qemu.virtio_fs_daemon, or shared_fs = \"virtio-9p\"");
    }
    c.Expect(fs::Exists(q.kernel), "guest kernel " + q.kernel, "build it: guest/build-guest.sh (scripts/install.sh does)");
    c.Expect(fs::Exists(q.initrd), "guest initrd " + q.initrd, "build it: guest/build-guest.sh (scripts/install.sh does)");
    auto release = fs::ReadFile(fs::Dirname(q.kernel) + "/guest-kernel-release");
    // guest/build-guest.sh writes "own built from ..." or "debian linux-image-... VERSION".
    auto origin = fs::ReadFile(fs::Dirname(q.kernel) + "/guest-kernel-origin");
    std::string which = "origin unknown: no guest-kernel-origin next to the kernel";
    if (origin.ok()) {
      std::string line = origin->substr(0, origin->find('\n'));
      std::string kind = line.substr(0, line.find(' '));
      std::string rest = line.find(' ') == std::string::npos ? "" : line.substr(line.find(' ') + 1);
      which = (kind == "own" ? "own build, " : kind == "debian" ? "Debian's prebuilt, " : kind + ", ") + rest;
    }
    if (release.ok()) c.Pass("guest kernel release " + release->substr(0, release->find('\n')) + " (" + which + ")");
    sandbox::AccelDecision d = sandbox::ChooseAccelerator(q.accelerator);
    if (d.accel == "kvm" && !d.kvm_usable) {
      c.Fail("accelerator: " + d.reason, "set hypervisor.qemu.accelerator = \"auto\" or \"tcg\"");
    } else {
      c.Pass("accelerator " + d.accel + " (configured \"" + q.accelerator + "\"): " + d.reason);
    }
    if (cfg->config.factory.enable_template) ReportKsm(c);
    std::printf("%s\n", c.failures == 0 ? "System is capable of running sandboxes" : "System cannot run sandboxes");
    *exit_code = c.failures == 0 ? 0 : 1;
  });
}

}  // namespace kata::cli
