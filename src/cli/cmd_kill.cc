#include "cli/commands.h"
#include "cli/service_client.h"
#include "cli/signals.h"
#include "cli/state_dir.h"

namespace kata::cli {
namespace {
Status KillContainer(const GlobalOptions& g, const std::string& id, const std::string& sig_text, bool all) {
  ASSIGN_OR_RETURN(int sig, ParseSignal(sig_text));
  RETURN_IF_ERROR(LoadRecord(g, id).status());
  auto client = ServiceClient::Dial(ServiceSocketOf(g, id));
  if (!client.ok()) {
    if (all) return Status::Ok();  // runc: --all on a stopped container is not an error
    return Error(Code::kNotFound, "container not running");
  }
  Status st = (*client)->Kill(id, "", static_cast<uint32_t>(sig), all);
  if (st.code() == Code::kNotFound) return all ? Status::Ok() : Error(Code::kNotFound, "container not running");
  return st;
}
}  // namespace

void AddKillCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  static std::string id, sig = "SIGTERM";
  static bool all = false;
  auto* cmd = app.add_subcommand("kill", "send a signal to the container's init process");
  cmd->add_flag("-a,--all", all, "send the signal to all processes in the container");
  cmd->add_option("id", id, "container id")->required();
  cmd->add_option("signal", sig, "signal name or number (default SIGTERM)");
  cmd->callback([&g, exit_code] {
    Status st = KillContainer(g, id, sig, all);
    if (!st.ok()) {
      ReportError(g, st.message());
      *exit_code = 1;
    }
  });
}

}  // namespace kata::cli
