#include "agent/container/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/container/device_filter.h"
#include "common/fs.h"
#include "common/log.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

namespace kata::agent {
namespace {

using nlohmann::json;

Status WriteFile(const std::string& path, const std::string& value) { return fs::WriteExisting(path, value); }

// cgroup files are small; a bound keeps a surprise from costing memory.
Result<std::string> ReadFile(const std::string& path) { return fs::ReadFile(path, 1 << 20); }

bool Exists(const std::string& path) { return fs::Exists(path); }

uint64_t ParseValue(const std::string& text) {  // "max\n" -> UINT64_MAX
  if (text.rfind("max", 0) == 0) return UINT64_MAX;
  return strtoull(text.c_str(), nullptr, 10);
}

std::map<std::string, uint64_t> ParseKeyed(const std::string& text) {
  std::map<std::string, uint64_t> out;
  std::istringstream in(text);
  std::string k;
  uint64_t v;
  while (in >> k >> v) out[k] = v;
  return out;
}

std::string Max(int64_t v) { return v < 0 ? "max" : std::to_string(v); }

// An integer field, or nullopt when absent, null or not an integer (a float
// out of int64_t's range would make the conversion undefined behaviour).
std::optional<int64_t> Int(const json& o, const char* key) {
  if (!o.is_object()) return std::nullopt;
  auto it = o.find(key);
  if (it == o.end() || !it->is_number_integer()) return std::nullopt;
  if (it->is_number_unsigned()) return static_cast<int64_t>(it->get<uint64_t>());
  return it->get<int64_t>();
}

// A string field, "" when absent or null. json::value() would throw for
// another type: the update would fail as "handler threw" instead of naming
// the field (found by tests/fuzz/fuzz_agent_requests).
Result<std::string> Str(const json& o, const char* key, const char* field) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Error(Code::kInvalidArgument, std::string("linux.resources.") + field + " must be a string");
  return it->get<std::string>();
}

struct Writer {
  const std::string& dir;
  Status Set(const std::string& file, const std::string& value) {
    return WriteFile(dir + "/" + file, value).Wrap("cgroup " + file);
  }
};

Status ApplyMemory(Writer& w, const json& m) {
  auto limit = Int(m, "limit");
  auto swap = Int(m, "swap");
  auto reservation = Int(m, "reservation");
  if (reservation && *reservation != 0) RETURN_IF_ERROR(w.Set("memory.low", Max(*reservation)));
  if (swap && *swap != 0) {
    if (!Exists(w.dir + "/memory.swap.max")) {
      log::Warn("cgroup: the kernel has no swap accounting, memory.swap ignored");
    } else if (*swap < 0) {
      RETURN_IF_ERROR(w.Set("memory.swap.max", "max"));
    } else {
      int64_t mem = limit.value_or(0);
      if (mem == 0) {  // an update of swap alone: the current limit
        auto cur = ReadFile(w.dir + "/memory.max");
        mem = cur.ok() && ParseValue(*cur) != UINT64_MAX ? static_cast<int64_t>(ParseValue(*cur)) : -1;
      }
      if (mem <= 0) return Error(Code::kInvalidArgument, "cgroup: memory.swap needs a memory limit");
      if (*swap < mem) {
        return Error(Code::kInvalidArgument, "cgroup: memory.swap (memory+swap) " + std::to_string(*swap) +
                                                 " is below memory.limit " + std::to_string(mem));
      }
      // Lowering the limit below current swap.max+... is fine in either order on v2.
      RETURN_IF_ERROR(w.Set("memory.swap.max", std::to_string(*swap - mem)));
    }
  }
  if (limit && *limit != 0) RETURN_IF_ERROR(w.Set("memory.max", Max(*limit)));
  for (const char* ignored : {"kernel", "kernelTCP", "swappiness"}) {
    if (Int(m, ignored)) log::Debug(std::string("cgroup v2 has no memory.") + ignored + ", ignored");
  }
  return {};
}

Status ApplyCpu(Writer& w, const json& c) {
  if (auto shares = Int(c, "shares"); shares && *shares != 0) {
    int64_t s = std::min<int64_t>(std::max<int64_t>(*shares, 2), 262144);
    RETURN_IF_ERROR(w.Set("cpu.weight", std::to_string(1 + ((s - 2) * 9999) / 262142)));
  }
  auto quota = Int(c, "quota");
  auto period = Int(c, "period");
  if ((quota && *quota != 0) || (period && *period != 0)) {
    std::string q;
    if (quota && *quota != 0) {
      q = *quota > 0 ? std::to_string(*quota) : "max";
    } else {  // period alone: keep the quota
      auto cur = ReadFile(w.dir + "/cpu.max");
      q = cur.ok() ? cur->substr(0, cur->find(' ')) : "max";
    }
    std::string value = q;
    if (period && *period > 0) value += " " + std::to_string(*period);
    RETURN_IF_ERROR(w.Set("cpu.max", value));
  }
  if (auto idle = Int(c, "idle"); idle && Exists(w.dir + "/cpu.idle")) RETURN_IF_ERROR(w.Set("cpu.idle", std::to_string(*idle)));
  if (c.is_object()) {
    ASSIGN_OR_RETURN(std::string cpus, Str(c, "cpus", "cpu.cpus"));
    ASSIGN_OR_RETURN(std::string mems, Str(c, "mems", "cpu.mems"));
    // The spec's cpuset names the host's CPUs and memory nodes; the guest has
    // its own few. Applied when the guest has them all, else left out (as
    // upstream Kata leaves it out always) rather than failing the container.
    for (auto [file, value] : {std::pair<const char*, const std::string&>{"cpuset.cpus", cpus}, {"cpuset.mems", mems}}) {
      if (value.empty()) continue;
      if (Status st = w.Set(file, value); !st.ok()) {
        log::Info(std::string(file) + " \"" + value + "\" is not applied: not all of it exists in the guest (" + st.message() + ")");
      }
    }
    if (Int(c, "realtimeRuntime") || Int(c, "realtimePeriod")) log::Debug("cgroup v2: realtime cpu limits ignored");
  }
  return {};
}

Status ApplyBlockIo(Writer& w, const json& b) {
  if (auto weight = Int(b, "weight"); weight && *weight != 0) {
    if (Exists(w.dir + "/io.bfq.weight")) {
      RETURN_IF_ERROR(w.Set("io.bfq.weight", std::to_string(*weight)));
    } else if (Exists(w.dir + "/io.weight")) {
      // blkio.weight's range first: a huge weight overflowed the scaling.
      int64_t v1 = std::clamp<int64_t>(*weight, 10, 1000);
      RETURN_IF_ERROR(w.Set("io.weight", "default " + std::to_string(1 + (v1 - 10) * 9999 / 990)));
    }
  }
  const struct {
    const char* field;
    const char* key;
  } kThrottle[] = {{"throttleReadBpsDevice", "rbps"},
                   {"throttleWriteBpsDevice", "wbps"},
                   {"throttleReadIOPSDevice", "riops"},
                   {"throttleWriteIOPSDevice", "wiops"}};
  for (const auto& t : kThrottle) {
    auto it = b.find(t.field);
    if (it == b.end() || !it->is_array()) continue;
    for (const json& d : *it) {
      std::string v = std::to_string(Int(d, "major").value_or(0)) + ":" + std::to_string(Int(d, "minor").value_or(0)) +
                      " " + t.key + "=" + std::to_string(Int(d, "rate").value_or(0));
      RETURN_IF_ERROR(w.Set("io.max", v));
    }
  }
  return {};
}

}  // namespace

bool Cgroup2Available(const std::string& root) {
  struct statfs sf;
  return statfs(root.c_str(), &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

std::vector<std::string> CgroupControllers(const std::string& root) {
  std::vector<std::string> out;
  auto text = ReadFile(root + "/cgroup.controllers");
  if (!text.ok()) return out;
  std::istringstream in(*text);
  std::string c;
  while (in >> c) out.push_back(c);
  return out;
}

Result<std::string> CreateCgroup(const std::string& root, const std::string& parent, const std::string& id) {
  if (id.empty() || id.find('/') != std::string::npos || id == "." || id == "..") {
    return Error(Code::kInvalidArgument, "cgroup name \"" + id + "\" is not a plain name");
  }
  if (!Cgroup2Available(root)) return Error(Code::kUnavailable, root + " is not a cgroup2 mount");
  std::string mid = root + "/" + parent;
  if (mkdir(mid.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoError("mkdir " + mid);
  // Every controller the root has, enabled for root's and parent's children.
  for (const std::string& c : CgroupControllers(root)) {
    if (c != "cpu" && c != "cpuset" && c != "memory" && c != "pids" && c != "io" && c != "hugetlb") continue;
    for (const std::string& d : {root, mid}) {
      Status st = WriteFile(d + "/cgroup.subtree_control", "+" + c);
      if (!st.ok()) log::Debug("cgroup: enable " + c + " in " + d + ": " + st.message());
    }
  }
  std::string dir = mid + "/" + id;
  if (mkdir(dir.c_str(), 0755) != 0) {
    if (errno == EEXIST) return Error(Code::kAlreadyExists, "cgroup " + dir + " already exists");
    return ErrnoError("mkdir " + dir);
  }
  return dir;
}

Status AddToCgroup(const std::string& dir, pid_t pid) {
  return WriteFile(dir + "/cgroup.procs", std::to_string(pid)).Wrap("move process " + std::to_string(pid) + " to its cgroup");
}

// A kernel without cgroup BPF keeps the old behaviour (the VM is the
// boundary), said once per container; any other failure fails the container.
Status ApplyDevices(const std::string& dir, const json& devices, const std::vector<oci::Device>& spec_devices) {
  ASSIGN_OR_RETURN(std::vector<DeviceRule> rules, ParseDeviceRules(devices));
  Status st = AttachDeviceFilter(dir, CompileDeviceFilter(WithDefaults(std::move(rules), spec_devices)));
  if (st.code() == Code::kUnimplemented) {
    log::Warn("cgroup: linux.resources.devices not applied: " + st.message());
    return {};
  }
  return st;
}

Status ApplyResources(const std::string& dir, const json& r, const std::vector<oci::Device>& spec_devices) {
  if (!r.is_object()) return {};
  Writer w{dir};
  if (auto it = r.find("memory"); it != r.end() && it->is_object()) RETURN_IF_ERROR(ApplyMemory(w, *it));
  if (auto it = r.find("cpu"); it != r.end() && it->is_object()) RETURN_IF_ERROR(ApplyCpu(w, *it));
  if (auto it = r.find("pids"); it != r.end() && it->is_object()) {
    if (auto limit = Int(*it, "limit")) RETURN_IF_ERROR(w.Set("pids.max", *limit > 0 ? std::to_string(*limit) : "max"));
  }
  if (auto it = r.find("blockIO"); it != r.end() && it->is_object()) RETURN_IF_ERROR(ApplyBlockIo(w, *it));
  if (auto it = r.find("hugepageLimits"); it != r.end() && it->is_array()) {
    for (const json& h : *it) {
      if (!h.is_object()) continue;
      ASSIGN_OR_RETURN(std::string size, Str(h, "pageSize", "hugepageLimits[].pageSize"));
      if (size.empty() || size.find('/') != std::string::npos) continue;
      RETURN_IF_ERROR(w.Set("hugetlb." + size + ".max", std::to_string(Int(h, "limit").value_or(0))));
    }
  }
  if (auto it = r.find("unified"); it != r.end() && it->is_object()) {
    for (const auto& [file, value] : it->items()) {
      if (file.empty() || file.find('/') != std::string::npos || file[0] == '.' || !value.is_string()) {
        return Error(Code::kInvalidArgument, "linux.resources.unified: bad entry \"" + file + "\"");
      }
      RETURN_IF_ERROR(w.Set(file, value.get<std::string>()));
    }
  }
  if (auto it = r.find("devices"); it != r.end() && !it->is_null()) RETURN_IF_ERROR(ApplyDevices(dir, *it, spec_devices));
  return {};
}

bool CgroupFrozen(const std::string& dir) {
  auto ev = ReadFile(dir + "/cgroup.events");
  if (!ev.ok()) return false;
  auto m = ParseKeyed(*ev);
  return m["frozen"] == 1;
}

Status FreezeCgroup(const std::string& dir, bool frozen, std::chrono::milliseconds timeout) {
  RETURN_IF_ERROR(WriteFile(dir + "/cgroup.freeze", frozen ? "1" : "0"));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (CgroupFrozen(dir) != frozen) {
    if (std::chrono::steady_clock::now() > deadline) {
      return Error(Code::kDeadlineExceeded, std::string("cgroup ") + dir + " did not " + (frozen ? "freeze" : "thaw") +
                                                " within " + std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return {};
}

std::vector<pid_t> CgroupProcs(const std::string& dir) {
  std::vector<pid_t> out;
  auto text = ReadFile(dir + "/cgroup.procs");
  if (!text.ok()) return out;
  std::istringstream in(*text);
  pid_t pid;
  while (in >> pid) out.push_back(pid);
  return out;
}

Status SignalCgroup(const std::string& dir, int sig) {
  if (sig == SIGKILL && Exists(dir + "/cgroup.kill")) return WriteFile(dir + "/cgroup.kill", "1");
  for (pid_t pid : CgroupProcs(dir)) {
    if (kill(pid, sig) != 0 && errno != ESRCH) return ErrnoError("signal process " + std::to_string(pid));
  }
  return {};
}

Status RemoveCgroup(const std::string& dir, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (rmdir(dir.c_str()) != 0) {
    if (errno == ENOENT) return {};
    if (errno != EBUSY || std::chrono::steady_clock::now() > deadline) return ErrnoError("remove cgroup " + dir);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return {};
}

Result<CgroupStats> ReadCgroupStats(const std::string& dir) {
  CgroupStats s;
  ASSIGN_OR_RETURN(std::string cpu, ReadFile(dir + "/cpu.stat"));
  s.raw["cpu.stat"] = cpu;
  auto c = ParseKeyed(cpu);
  s.cpu_usage_usec = c["usage_usec"];
  s.cpu_user_usec = c["user_usec"];
  s.cpu_system_usec = c["system_usec"];
  s.cpu_nr_periods = c["nr_periods"];
  s.cpu_nr_throttled = c["nr_throttled"];
  s.cpu_throttled_usec = c["throttled_usec"];
  if (auto v = ReadFile(dir + "/memory.current"); v.ok()) s.memory_usage = ParseValue(*v);
  if (auto v = ReadFile(dir + "/memory.max"); v.ok()) s.memory_limit = ParseValue(*v);
  if (auto v = ReadFile(dir + "/memory.swap.current"); v.ok()) s.swap_usage = ParseValue(*v);
  if (auto v = ReadFile(dir + "/memory.swap.max"); v.ok()) s.swap_limit = ParseValue(*v);
  if (auto v = ReadFile(dir + "/memory.stat"); v.ok()) {
    s.memory_stat = ParseKeyed(*v);
    s.raw["memory.stat"] = *v;
  }
  if (auto v = ReadFile(dir + "/pids.current"); v.ok()) {
    s.pids_current = ParseValue(*v);
    s.raw["pids.current"] = *v;
  }
  if (auto v = ReadFile(dir + "/pids.max"); v.ok()) s.pids_limit = ParseValue(*v);
  for (const char* f : {"memory.events", "io.stat"}) {
    if (auto v = ReadFile(dir + "/" + f); v.ok()) s.raw[f] = *v;
  }
  return s;
}

}  // namespace kata::agent
