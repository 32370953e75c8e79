// `events`: runc's JSON lines {"type":"stats","id":..,"data":{..}}; with
// --stats one sample and exit, otherwise a sample every --interval until the
// container stops, and {"type":"oom","id":..} as soon as the guest's OOM
// killer acts in the container's cgroup (the service appends the id to its
// OOM record, followed here). Numbers come from the container's cgroup in
// the guest.
#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cgroups_v2.pb.h"
#include "cli/commands.h"
#include "cli/service_client.h"
#include "cli/state_dir.h"
#include "common/fs.h"

namespace kata::cli {
namespace {

namespace task = containerd::task::v2;

Result<nlohmann::json> StatsEvent(ServiceClient* client, const std::string& id) {
  ASSIGN_OR_RETURN(task::StatsResponse r, client->Stats(id));
  io::containerd::cgroups::v2::Metrics m;
  if (!m.ParseFromString(r.stats().value())) return Error(Code::kDataLoss, "malformed statistics from the sandbox service");
  nlohmann::json data = {
      {"cpu",
       {{"usage", {{"total", m.cpu().usage_usec() * 1000}, {"user", m.cpu().user_usec() * 1000},
                   {"kernel", m.cpu().system_usec() * 1000}}},
        {"throttling", {{"periods", m.cpu().nr_periods()}, {"throttledPeriods", m.cpu().nr_throttled()},
                        {"throttledTime", m.cpu().throttled_usec() * 1000}}}}},
      {"memory",
       {{"usage", {{"limit", m.memory().usage_limit()}, {"usage", m.memory().usage()}}},
        {"swap", {{"limit", m.memory().swap_limit()}, {"usage", m.memory().swap_usage()}}},
        {"raw", {{"anon", m.memory().anon()}, {"file", m.memory().file()}, {"shmem", m.memory().shmem()}}}}},
      {"pids", {{"current", m.pids().current()}, {"limit", m.pids().limit()}}},
  };
  return nlohmann::json{{"type", "stats"}, {"id", id}, {"data", data}};
}

void Print(const nlohmann::json& ev) {
  std::printf("%s\n", ev.dump().c_str());
  std::fflush(stdout);
}

// OOM kills of `id` recorded since `*offset` (which moves past them).
int NewOoms(const std::string& record, const std::string& id, size_t* offset) {
  auto text = fs::ReadFile(record);
  if (!text.ok() || text->size() <= *offset) return 0;
  int n = 0;
  size_t end = text->rfind('\n');
  if (end == std::string::npos || end < *offset) return 0;
  std::istringstream lines(text->substr(*offset, end + 1 - *offset));
  for (std::string line; std::getline(lines, line);) n += line == id;
  *offset = end + 1;
  return n;
}

Status Events(const GlobalOptions& g, const std::string& id, bool once, int interval_s) {
  RETURN_IF_ERROR(LoadRecord(g, id).status());
  auto client = ServiceClient::Dial(ServiceSocketOf(g, id));
  if (!client.ok()) return Error(Code::kFailedPrecondition, "container not running");
  std::string oom_record = ServiceSocketOf(g, id) + ".oom";
  size_t offset = fs::ReadFile(oom_record).value_or("").size();  // only what happens from now on
  constexpr auto kOomPoll = std::chrono::milliseconds(200);
  auto next_stats = std::chrono::steady_clock::now();
  while (true) {
    if (std::chrono::steady_clock::now() >= next_stats) {
      auto ev = StatsEvent(client->get(), id);
      if (!ev.ok()) return once ? ev.status() : Status::Ok();  // stopped: the stream ends
      Print(*ev);
      if (once) return Status::Ok();
      next_stats += std::chrono::seconds(interval_s);
    }
    for (int n = NewOoms(oom_record, id, &offset); n > 0; n--) Print({{"type", "oom"}, {"id", id}});
    std::this_thread::sleep_for(kOomPoll);
  }
}

}  // namespace

void AddEventsCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  static std::string id, interval = "5s";
  static bool stats = false;
  auto* cmd = app.add_subcommand("events", "display container statistics");
  cmd->add_flag("--stats", stats, "display the container's stats once, then exit");
  cmd->add_option("--interval", interval, "stats collection interval (e.g. 5s)");
  cmd->add_option("id", id, "container id")->required();
  cmd->callback([&g, exit_code] {
    int seconds = std::max(1, std::atoi(interval.c_str()));
    Status st = Events(g, id, stats, seconds);
    if (!st.ok()) {
      ReportError(g, st.message());
      *exit_code = 1;
    }
  });
}

}  // namespace kata::cli
