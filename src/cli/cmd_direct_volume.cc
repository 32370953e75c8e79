// `kata-runtime direct-volume add|remove|stats|resize`, as Kata's: a block
// device or disk image assigned to a volume path (sandbox/direct_volume.h).
#include <iostream>

#include "cli/commands.h"
#include "sandbox/direct_volume.h"

namespace kata::cli {
namespace {

void Report(const GlobalOptions& g, const Status& st, int* exit_code) {
  if (st.ok()) return;
  ReportError(g, st.message());
  *exit_code = 1;
}

// Prints the volume's usage as Kata's CLI does (one line of JSON).
void PrintStats(const GlobalOptions& g, const std::string& path, int* exit_code) {
  auto stats = sandbox::DirectVolumeStats(path);
  if (!stats.ok()) return Report(g, stats.status(), exit_code);
  std::cout << sandbox::VolumeStatsJson(*stats) << "\n";
}

}  // namespace

void AddDirectVolumeCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  static std::string path, info;
  static uint64_t size = 0;
  auto* cmd = app.add_subcommand("direct-volume", "assign a block device or disk image to a volume path (Kata's)");
  cmd->require_subcommand(1);
  auto* add = cmd->add_subcommand("add", "register a direct volume for --volume-path");
  add->add_option("--volume-path", path, "the volume's host path, as containers bind it")->required();
  add->add_option("--mount-info", info,
                  "JSON: {\"device\": \"/dev/sdb or /img/disk.raw\", \"fs_type\": \"ext4|xfs\", \"options\": [...]}")
      ->required();
  add->callback([&g, exit_code] { Report(g, sandbox::AddDirectVolume(path, info), exit_code); });
  auto* remove = cmd->add_subcommand("remove", "forget the direct volume of --volume-path");
  remove->add_option("--volume-path", path, "the volume's host path")->required();
  remove->callback([&g, exit_code] { Report(g, sandbox::RemoveDirectVolume(path), exit_code); });
  auto* stats = cmd->add_subcommand("stats", "file system statistics of a mounted direct volume");
  stats->add_option("--volume-path", path, "the volume's host path")->required();
  stats->callback([&g, exit_code] { PrintStats(g, path, exit_code); });
  auto* resize = cmd->add_subcommand("resize", "grow a mounted direct volume: its disk, then its ext4 file system");
  resize->add_option("--volume-path", path, "the volume's host path")->required();
  resize->add_option("--size", size, "new size in bytes")->required();
  resize->callback([&g, exit_code] { Report(g, sandbox::ResizeDirectVolume(path, size), exit_code); });
}

}  // namespace kata::cli
