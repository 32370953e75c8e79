// `ps`: the host processes of a container. The container's own processes
// live in the guest; on the host the one process a caller can see and signal
// is the monitor, so that is what is reported (runc reports the host pids).
#include <cstdio>

#include "cli/commands.h"
#include "cli/container_status.h"

namespace kata::cli {

void AddPsCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  static std::string id, format = "table";
  static std::vector<std::string> ps_args;
  auto* cmd = app.add_subcommand("ps", "list the host processes of a container");
  cmd->add_option("-f,--format", format, "table or json")->check(CLI::IsMember({"table", "json"}));
  cmd->add_option("id", id, "container id")->required();
  cmd->add_option("ps-args", ps_args, "arguments for ps (table format)");
  cmd->callback([&g, exit_code] {
    auto s = CurrentState(g, id);
    if (!s.ok()) {
      ReportError(g, s.status().message());
      *exit_code = 1;
      return;
    }
    if (format == "json") {
      std::printf(s->pid > 0 ? "[%d]\n" : "[]\n", s->pid);
      return;
    }
    std::string args;
    for (const auto& a : ps_args) args += " '" + a + "'";
    std::string cmdline = "ps" + (args.empty() ? std::string(" -ef") : args) + " | awk 'NR==1 || $2==" +
                          std::to_string(s->pid) + "'";
    *exit_code = std::system(cmdline.c_str()) == 0 ? 0 : 1;
  });
}

}  // namespace kata::cli
