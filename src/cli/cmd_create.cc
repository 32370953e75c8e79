#include "cli/commands.h"
#include "cli/lifecycle.h"

namespace kata::cli {
namespace {
void AddCreateFlags(CLI::App* cmd, CreateOptions* o) {
  cmd->add_option("-b,--bundle", o->bundle, "path to the root of the bundle directory");
  cmd->add_option("--console-socket", o->console_socket, "unix socket that receives the pty master");
  cmd->add_option("--pid-file", o->pid_file, "file to write the process id to");
  cmd->add_flag("--no-pivot", o->no_pivot, "accepted for compatibility (the guest always pivots)");
  cmd->add_flag("--no-new-keyring", o->no_new_keyring, "accepted for compatibility");
  cmd->add_option("--preserve-fds", o->preserve_fds, "only 0: extra fds cannot be passed into the VM")
      ->check(NoPreservedFds());
  cmd->add_option("id", o->id, "container id")->required();
}
}  // namespace

void AddCreateCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* o = new CreateOptions;
  auto* cmd = app.add_subcommand("create", "create a container (boots its VM; the process waits for start)");
  AddCreateFlags(cmd, o);
  cmd->callback([&g, o, exit_code] {
    Status st = CreateDetached(g, *o);
    if (!st.ok()) {
      ReportError(g, st.message());
      *exit_code = 1;
    }
  });
}

void AddRunCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* o = new CreateOptions;
  static bool detach = false, keep = false, no_subreaper = false;
  auto* cmd = app.add_subcommand("run", "create and run a container");
  AddCreateFlags(cmd, o);
  cmd->add_flag("-d,--detach", detach, "detach from the container's process");
  cmd->add_flag("--keep", keep, "do not delete the container after it exits");
  cmd->add_flag("--no-subreaper", no_subreaper, "accepted for compatibility");
  cmd->callback([&g, o, exit_code] {
    if (detach) {
      Status st = CreateDetached(g, *o);
      if (st.ok()) st = StartDetached(g, o->id);
      if (!st.ok()) {
        ReportError(g, st.message());
        *exit_code = 1;
      }
      return;
    }
    auto status = RunForeground(g, *o, keep);
    if (!status.ok()) {
      ReportError(g, status.status().message());
      *exit_code = 1;
      return;
    }
    *exit_code = *status;
  });
}

}  // namespace kata::cli
