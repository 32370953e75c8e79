#include "agent/guest_metrics.h"

#include <unistd.h>

#include <cstdint>
#include <map>
#include <sstream>

#include "agent/container/cgroup.h"
#include "common/fs.h"

namespace kata::agent {
namespace {

std::string Slurp(const std::string& path) { return fs::ReadFile(path).value_or(""); }

// A label value as the text format wants it: \, " and newline escaped.
std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return out;
}

// One metric family: HELP and TYPE once, then its samples.
class Family {
 public:
  Family(std::string* out, const std::string& name, const std::string& type, const std::string& help)
      : out_(out), name_(name) {
    *out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void Add(const std::map<std::string, std::string>& labels, double value) {
    std::string l;
    for (const auto& [k, v] : labels) l += (l.empty() ? "" : ",") + k + "=\"" + Escape(v) + "\"";
    std::ostringstream num;
    num.precision(17);
    num << value;
    *out_ += name_ + (l.empty() ? "" : "{" + l + "}") + " " + num.str() + "\n";
  }

 private:
  std::string* out_;
  std::string name_;
};

void MemInfo(const std::string& proc, std::string* out) {
  Family f(out, "kata_guest_meminfo", "gauge", "Guest memory from /proc/meminfo, in bytes (counts for HugePages_*).");
  std::istringstream lines(Slurp(proc + "/meminfo"));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string key, unit;
    double value;
    if (!(fields >> key >> value)) continue;
    fields >> unit;
    if (!key.empty() && key.back() == ':') key.pop_back();
    f.Add({{"item", key}}, unit == "kB" ? value * 1024 : value);
  }
}

void CpuTime(const std::string& proc, std::string* out) {
  static const char* kItems[] = {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"};
  Family f(out, "kata_guest_cpu_time", "gauge", "Guest CPU time from /proc/stat, in seconds.");
  double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::istringstream lines(Slurp(proc + "/stat"));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("cpu", 0) != 0) continue;
    std::istringstream fields(line);
    std::string cpu;
    fields >> cpu;
    double ticks;
    for (const char* item : kItems) {
      if (!(fields >> ticks)) break;
      f.Add({{"cpu", cpu}, {"item", item}}, ticks / hz);
    }
  }
}

void LoadAndTasks(const std::string& proc, std::string* out) {
  std::istringstream fields(Slurp(proc + "/loadavg"));
  double l1 = 0, l5 = 0, l15 = 0;
  std::string tasks;
  fields >> l1 >> l5 >> l15 >> tasks;
  Family load(out, "kata_guest_load", "gauge", "Guest load averages from /proc/loadavg.");
  load.Add({{"item", "load1"}}, l1);
  load.Add({{"item", "load5"}}, l5);
  load.Add({{"item", "load15"}}, l15);
  size_t slash = tasks.find('/');
  if (slash == std::string::npos) return;
  Family t(out, "kata_guest_tasks", "gauge", "Guest tasks running and in all, from /proc/loadavg.");
  t.Add({{"item", "running"}}, std::stod("0" + tasks.substr(0, slash)));
  t.Add({{"item", "total"}}, std::stod("0" + tasks.substr(slash + 1)));
}

void NetDev(const std::string& proc, std::string* out) {
  static const char* kItems[] = {"recv_bytes",   "recv_packets", "recv_errs",   "recv_drop",    "recv_fifo",
                                 "recv_frame",   "recv_compressed", "recv_multicast", "sent_bytes", "sent_packets",
                                 "sent_errs",    "sent_drop",    "sent_fifo",   "sent_colls",   "sent_carrier",
                                 "sent_compressed"};
  Family f(out, "kata_guest_netdev_stat", "gauge", "Guest network interfaces from /proc/net/dev.");
  std::istringstream lines(Slurp(proc + "/net/dev"));
  for (std::string line; std::getline(lines, line);) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    std::istringstream fields(line.substr(colon + 1));
    double v;
    for (const char* item : kItems) {
      if (!(fields >> v)) break;
      f.Add({{"interface", name}, {"item", item}}, v);
    }
  }
}

void DiskStats(const std::string& proc, std::string* out) {
  static const char* kItems[] = {"reads",  "reads_merged",  "sectors_read",    "time_reading_ms", "writes",
                                 "writes_merged", "sectors_written", "time_writing_ms", "in_progress", "time_io_ms"};
  Family f(out, "kata_guest_diskstat", "gauge", "Guest block devices that did I/O, from /proc/diskstats.");
  std::istringstream lines(Slurp(proc + "/diskstats"));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string major, minor, name;
    if (!(fields >> major >> minor >> name)) continue;
    double v[10] = {};
    int n = 0;
    while (n < 10 && fields >> v[n]) n++;
    if (n < 10 || (v[0] == 0 && v[4] == 0)) continue;
    for (int i = 0; i < 10; i++) f.Add({{"disk", name}, {"item", kItems[i]}}, v[i]);
  }
}

void Containers(const std::vector<std::pair<std::string, std::string>>& containers, std::string* out) {
  std::vector<std::pair<std::string, CgroupStats>> stats;
  for (const auto& [id, dir] : containers) {
    if (dir.empty()) continue;
    if (auto s = ReadCgroupStats(dir); s.ok()) stats.emplace_back(id, *s);
  }
  Family cpu(out, "kata_container_cpu_usage_seconds_total", "counter", "CPU time of the container's guest cgroup.");
  for (const auto& [id, s] : stats) cpu.Add({{"container_id", id}}, static_cast<double>(s.cpu_usage_usec) / 1e6);
  Family thr(out, "kata_container_cpu_throttled_seconds_total", "counter", "Time the container's guest cgroup was throttled.");
  for (const auto& [id, s] : stats) thr.Add({{"container_id", id}}, static_cast<double>(s.cpu_throttled_usec) / 1e6);
  Family mem(out, "kata_container_memory_usage_bytes", "gauge", "Memory of the container's guest cgroup.");
  for (const auto& [id, s] : stats) mem.Add({{"container_id", id}}, static_cast<double>(s.memory_usage));
  Family pids(out, "kata_container_pids", "gauge", "Tasks in the container's guest cgroup.");
  for (const auto& [id, s] : stats) pids.Add({{"container_id", id}}, static_cast<double>(s.pids_current));
}

}  // namespace

std::string GuestMetricsText(const std::vector<std::pair<std::string, std::string>>& containers, const std::string& proc) {
  std::string out;
  MemInfo(proc, &out);
  CpuTime(proc, &out);
  LoadAndTasks(proc, &out);
  NetDev(proc, &out);
  DiskStats(proc, &out);
  Containers(containers, &out);
  return out;
}

}  // namespace kata::agent
