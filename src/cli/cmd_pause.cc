// `pause`, `resume` (the guest's cgroup freezer) and `update` (resources).
#include <unistd.h>

#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/parse.h"
#include "cli/service_client.h"
#include "cli/state_dir.h"
#include "common/json_parse.h"
#include "common/fs.h"

namespace kata::cli {
namespace {

Result<std::unique_ptr<ServiceClient>> Connect(const GlobalOptions& g, const std::string& id) {
  RETURN_IF_ERROR(LoadRecord(g, id).status());
  auto c = ServiceClient::Dial(ServiceSocketOf(g, id));
  if (!c.ok()) return Error(Code::kFailedPrecondition, "container not running");
  return std::move(*c);
}

void Report(const GlobalOptions& g, const Status& st, int* exit_code) {
  if (st.ok()) return;
  ReportError(g, st.message());
  *exit_code = 1;
}

struct UpdateFlags {
  std::string resources;
  std::string memory, memory_reservation, memory_swap, cpu_period, cpu_quota, cpu_share, cpuset_cpus, cpuset_mems,
      pids_limit, blkio_weight;
};

// runc's single-value flags as a LinuxResources document.
Result<std::string> ResourcesFrom(const UpdateFlags& f) {
  if (!f.resources.empty()) {
    std::string text;
    if (f.resources == "-") {
      text.assign(std::istreambuf_iterator<char>(std::cin), {});
    } else {
      ASSIGN_OR_RETURN(text, fs::ReadFile(f.resources));
    }
    ASSIGN_OR_RETURN(nlohmann::json j, ParseJsonBounded(text, "--resources"));
    if (!j.is_object()) return Error(Code::kInvalidArgument, "--resources: not a JSON object");
    return j.dump();
  }
  nlohmann::json r = nlohmann::json::object();
  // Each flag's own name in the error: "invalid --memory \"12x\": want an integer".
  auto set = [&r](const std::string& flag, const std::string& value, const char* group, const char* key) -> Status {
    if (value.empty()) return Status::Ok();
    ASSIGN_OR_RETURN(int64_t n, ParseInteger(value, flag));
    r[group][key] = n;
    return Status::Ok();
  };
  RETURN_IF_ERROR(set("--memory", f.memory, "memory", "limit"));
  RETURN_IF_ERROR(set("--memory-reservation", f.memory_reservation, "memory", "reservation"));
  RETURN_IF_ERROR(set("--memory-swap", f.memory_swap, "memory", "swap"));
  RETURN_IF_ERROR(set("--cpu-period", f.cpu_period, "cpu", "period"));
  RETURN_IF_ERROR(set("--cpu-quota", f.cpu_quota, "cpu", "quota"));
  RETURN_IF_ERROR(set("--cpu-share", f.cpu_share, "cpu", "shares"));
  if (!f.cpuset_cpus.empty()) r["cpu"]["cpus"] = f.cpuset_cpus;
  if (!f.cpuset_mems.empty()) r["cpu"]["mems"] = f.cpuset_mems;
  RETURN_IF_ERROR(set("--pids-limit", f.pids_limit, "pids", "limit"));
  RETURN_IF_ERROR(set("--blkio-weight", f.blkio_weight, "blockIO", "weight"));
  return r.dump();
}

}  // namespace

void AddPauseCommands(CLI::App& app, GlobalOptions& g, int* exit_code) {
  static std::string pause_id, resume_id, update_id;
  auto* pause = app.add_subcommand("pause", "suspend all processes of the container");
  pause->add_option("id", pause_id, "container id")->required();
  pause->callback([&g, exit_code] {
    auto c = Connect(g, pause_id);
    Report(g, c.ok() ? (*c)->Pause(pause_id) : c.status(), exit_code);
  });
  auto* resume = app.add_subcommand("resume", "resume all processes of a paused container");
  resume->add_option("id", resume_id, "container id")->required();
  resume->callback([&g, exit_code] {
    auto c = Connect(g, resume_id);
    Report(g, c.ok() ? (*c)->Resume(resume_id) : c.status(), exit_code);
  });

  static UpdateFlags f;
  auto* update = app.add_subcommand("update", "update the container's resource constraints");
  update->add_option("-r,--resources", f.resources, "LinuxResources JSON file, or - for stdin");
  update->add_option("--memory", f.memory, "memory limit (bytes)");
  update->add_option("--memory-reservation", f.memory_reservation, "memory reservation (bytes)");
  update->add_option("--memory-swap", f.memory_swap, "memory + swap limit (bytes)");
  update->add_option("--cpu-period", f.cpu_period, "CPU CFS period (us)");
  update->add_option("--cpu-quota", f.cpu_quota, "CPU CFS quota (us)");
  update->add_option("--cpu-share", f.cpu_share, "CPU shares");
  update->add_option("--cpuset-cpus", f.cpuset_cpus, "CPUs to use");
  update->add_option("--cpuset-mems", f.cpuset_mems, "memory nodes to use");
  update->add_option("--pids-limit", f.pids_limit, "maximum number of pids");
  update->add_option("--blkio-weight", f.blkio_weight, "block IO weight");
  std::string unused;
  for (const char* ignored : {"--cpu-rt-period", "--cpu-rt-runtime", "--kernel-memory", "--kernel-memory-tcp",
                              "--l3-cache-schema", "--mem-bw-schema"}) {
    update->add_option(ignored, unused, "accepted for compatibility");
  }
  update->add_option("id", update_id, "container id")->required();
  update->callback([&g, exit_code] {
    auto res = ResourcesFrom(f);
    if (!res.ok()) return Report(g, res.status(), exit_code);
    auto c = Connect(g, update_id);
    Report(g, c.ok() ? (*c)->Update(update_id, *res) : c.status(), exit_code);
  });
}

}  // namespace kata::cli
