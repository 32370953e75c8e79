// `kata-runtime factory init|status|destroy`: the VM template of Kata's
// [factory] enable_template (sandbox/vm_template.h) and the VM cache of
// [factory] vm_cache_number (sandbox/vm_cache.h). Sandboxes use both by
// themselves; these verbs make, inspect and remove them.
#include <limits.h>
#include <unistd.h>

#include <cstdio>

#include "cli/commands.h"
#include "common/fs.h"
#include "common/log.h"
#include "config/config.h"
#include "sandbox/template_fingerprint.h"
#include "sandbox/vm_cache.h"
#include "sandbox/vm_template.h"
#include "sandbox/sandbox_config.h"

namespace kata::cli {
namespace {

// The VM a sandbox would get with this configuration: what the template is
// made from, and what it is checked against.
Result<sandbox::SandboxConfig> SandboxShape(const config::Config& c) {
  return sandbox::MakeSandboxConfig(c, "template");
}

// The installed agent (scripts/install.sh), or the one next to a build's
// kata-runtime: the static binary the cache's warm-up container runs.
std::string WarmupBinary() {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return "";
  exe[n] = '\0';
  std::string dir = fs::Dirname(exe);
  for (const std::string& p : {dir + "/../libexec/kata-containers/kata-agent", dir + "/kata-agent"}) {
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

Status ServeCache(const config::Config& c) {
  // A server in the foreground says what its VMs do (made, handed over).
  if (!log::Enabled(log::Level::kInfo)) log::Configure(2, log::Level::kInfo, log::Format::kText);
  ASSIGN_OR_RETURN(sandbox::SandboxConfig sc, SandboxShape(c));
  sandbox::VmCacheOptions opts;
  opts.shape = sc;
  opts.size = c.factory.vm_cache_number;
  opts.endpoint = c.factory.vm_cache_endpoint;
  opts.warmup_binary = WarmupBinary();
  if (opts.warmup_binary.empty()) {
    std::fprintf(stderr, "warning: no kata-agent binary found next to kata-runtime or in ../libexec/kata-containers: "
                         "cached VMs will not be warmed up\n");
  }
  return sandbox::ServeVmCache(opts, [&] {
    std::printf("VM cache serving %d VMs at %s (stop it with Ctrl-C or `kata-runtime factory destroy`)\n",
                opts.size, opts.endpoint.c_str());
    std::fflush(stdout);
  });
}

Status Init(const config::Config& c) {
  if (!c.factory.enable_template && c.factory.vm_cache_number == 0) {
    return Error(Code::kFailedPrecondition,
                 "neither VM templating nor the VM cache is enabled: set enable_template = true or vm_cache_number "
                 "= N in the [factory] table of the configuration");
  }
  if (c.factory.enable_template) {
    ASSIGN_OR_RETURN(sandbox::SandboxConfig sc, SandboxShape(c));
    RETURN_IF_ERROR(sandbox::CreateVmTemplate(sc.vm, c.factory.template_path, sc.hypervisor, sc.agent_timeout));
    std::printf("VM template created in %s\n", c.factory.template_path.c_str());
    std::fflush(stdout);
  }
  // Like upstream Kata, a cache is a server: init stays in the foreground.
  if (c.factory.vm_cache_number > 0) return ServeCache(c);
  return Status::Ok();
}

Status PrintStatus(const config::Config& c) {
  ASSIGN_OR_RETURN(sandbox::SandboxConfig sc, SandboxShape(c));
  sandbox::TemplateStatus s = sandbox::InspectVmTemplate(sc.vm, c.factory.template_path);
  std::printf("enable_template: %s\n", c.factory.enable_template ? "true" : "false");
  std::printf("template_path: %s\n", c.factory.template_path.c_str());
  std::printf("template: %s\n", s.valid ? "valid" : s.exists ? "stale" : "none");
  if (!s.valid) std::printf("reason: %s\n", s.reason.c_str());
  std::printf("vm_cache_number: %d\n", c.factory.vm_cache_number);
  std::printf("vm_cache_endpoint: %s\n", c.factory.vm_cache_endpoint.c_str());
  auto cache = sandbox::AskVmCacheStatus(c.factory.vm_cache_endpoint, sandbox::TemplateFingerprint(sc.vm));
  if (cache.ok()) {
    std::printf("vm_cache: serving, %d of %d VMs ready%s\n", cache->ready(), cache->size(),
                cache->warm() ? ", warmed up" : "");
    // A server started before the kernel, initrd or settings changed keeps
    // serving VMs that sandboxes of this configuration no longer take.
    if (!cache->mismatch().empty()) std::printf("vm_cache_stale: %s (restart the cache)\n", cache->mismatch().c_str());
    if (!cache->last_error().empty()) std::printf("vm_cache_last_error: %s\n", cache->last_error().c_str());
  } else {
    std::printf("vm_cache: not running\n");
  }
  return Status::Ok();
}

Status Destroy(const config::Config& c) {
  if (sandbox::QuitVmCache(c.factory.vm_cache_endpoint).ok()) {
    std::printf("VM cache at %s stopped\n", c.factory.vm_cache_endpoint.c_str());
  }
  sandbox::RemoveVmsOfDeadCaches();
  RETURN_IF_ERROR(sandbox::DestroyVmTemplate(c.factory.template_path));
  std::printf("VM template %s destroyed\n", c.factory.template_path.c_str());
  return Status::Ok();
}

}  // namespace

void AddFactoryCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "factory", "manage the VM template and the VM cache new sandboxes start from ([factory] in the configuration)");
  cmd->require_subcommand(1);
  auto add = [&](const char* name, const char* help, Status (*fn)(const config::Config&)) {
    cmd->add_subcommand(name, help)->callback([&g, exit_code, fn] {
      auto cfg = config::Load(g.config);
      Status st = cfg.ok() ? fn(cfg->config) : cfg.status();
      if (!st.ok()) {
        ReportError(g, st.message());
        *exit_code = 1;
      }
    });
  };
  add("init", "boot a VM and save it as the template; with vm_cache_number, serve a VM cache (in the foreground)",
      Init);
  add("status", "say whether the template exists and matches the configuration, and whether the VM cache serves", PrintStatus);
  add("destroy", "stop the VM cache and remove the template", Destroy);
}

}  // namespace kata::cli
