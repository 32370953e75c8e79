// `kata-runtime factory init|status|destroy`: the VM template of Kata's
// [factory] enable_template (sandbox/vm_template.h). Sandboxes started by
// the shim use it by themselves; these verbs manage it.
#include <cstdio>

#include "cli/commands.h"
#include "config/config.h"
#include "sandbox/vm_template.h"
#include "shim/sandbox_config.h"

namespace kata::cli {
namespace {

// The VM a sandbox would get with this configuration: what the template is
// made from, and what it is checked against.
Result<sandbox::SandboxConfig> SandboxShape(const config::Config& c) {
  return shim::MakeSandboxConfig(c, "template");
}

Status Init(const config::Config& c) {
  if (!c.factory.enable_template) {
    return Error(Code::kFailedPrecondition,
                 "VM templating is not enabled: set enable_template = true in the [factory] table of the configuration");
  }
  ASSIGN_OR_RETURN(sandbox::SandboxConfig sc, SandboxShape(c));
  RETURN_IF_ERROR(
      sandbox::CreateVmTemplate(sc.vm, c.factory.template_path, sc.hypervisor, sc.agent_timeout));
  std::printf("VM template created in %s\n", c.factory.template_path.c_str());
  return Status::Ok();
}

Status PrintStatus(const config::Config& c) {
  ASSIGN_OR_RETURN(sandbox::SandboxConfig sc, SandboxShape(c));
  sandbox::TemplateStatus s = sandbox::InspectVmTemplate(sc.vm, c.factory.template_path);
  std::printf("enable_template: %s\n", c.factory.enable_template ? "true" : "false");
  std::printf("template_path: %s\n", c.factory.template_path.c_str());
  std::printf("template: %s\n", s.valid ? "valid" : s.exists ? "stale" : "none");
  if (!s.valid) std::printf("reason: %s\n", s.reason.c_str());
  return Status::Ok();
}

Status Destroy(const config::Config& c) {
  RETURN_IF_ERROR(sandbox::DestroyVmTemplate(c.factory.template_path));
  std::printf("VM template %s destroyed\n", c.factory.template_path.c_str());
  return Status::Ok();
}

}  // namespace

void AddFactoryCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand("factory", "manage the VM template new sandboxes start from ([factory] enable_template)");
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
  add("init", "boot a VM and save it as the template", Init);
  add("status", "say whether the template exists and matches the configuration", PrintStatus);
  add("destroy", "remove the template", Destroy);
}

}  // namespace kata::cli
