#include <dirent.h>

#include <cstdio>
#include <ctime>

#include "cli/commands.h"
#include "cli/container_status.h"
#include "oci/state.h"

namespace kata::cli {
namespace {

std::vector<oci::State> AllStates(const GlobalOptions& g) {
  std::vector<oci::State> out;
  DIR* d = opendir(g.root.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    auto s = CurrentState(g, e->d_name);
    if (s.ok()) out.push_back(*s);
  }
  closedir(d);
  return out;
}

}  // namespace

void AddListCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  static std::string format = "table";
  static bool quiet = false;
  auto* cmd = app.add_subcommand("list", "list containers started by kata-runtime with the given root");
  cmd->add_option("-f,--format", format, "table or json")->check(CLI::IsMember({"table", "json"}));
  cmd->add_flag("-q,--quiet", quiet, "display only container IDs");
  cmd->callback([&g] {
    std::vector<oci::State> states = AllStates(g);
    if (quiet) {
      for (const auto& s : states) std::printf("%s\n", s.id.c_str());
      return;
    }
    if (format == "json") {
      std::fputs(oci::StateListJson(states).c_str(), stdout);
      std::fputs("\n", stdout);
      return;
    }
    std::printf("%-20s %-8s %-10s %-40s %-31s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
    for (const auto& s : states) {
      std::printf("%-20s %-8d %-10s %-40s %-31s %s\n", s.id.c_str(), s.pid, s.status.c_str(), s.bundle.c_str(),
                  oci::FormatRFC3339Nano(s.created).c_str(), "root");
    }
  });
  (void)exit_code;
}

}  // namespace kata::cli
