// cgroup v2 for containers in the guest: one cgroup per container,
// <root>/kata/<id> (root: /sys/fs/cgroup, mounted by guest_setup.cc).
//
//   ASSIGN_OR_RETURN(std::string dir, CreateCgroup("/sys/fs/cgroup", "kata", id));
//   RETURN_IF_ERROR(ApplyResources(dir, spec.linux.resources.raw));
//   ls.cgroup_dir = dir;   // the launcher moves the init in (launch.h)
//
// linux.resources mapping (runc's, cgroup v2): memory.limit -> memory.max,
// reservation -> memory.low, swap (memory+swap) -> memory.swap.max = swap - limit,
// cpu.shares -> cpu.weight (1 + (shares-2)*9999/262142), quota/period -> cpu.max,
// cpus/mems -> cpuset.cpus/.mems, cpu.idle, pids.limit -> pids.max (<= 0: max),
// blockIO weight/throttle -> io.bfq.weight|io.weight / io.max,
// hugepageLimits -> hugetlb.<size>.max, unified -> the named files.
// devices -> a BPF device program on the cgroup (device_filter.h; linux.devices
// of the spec, `spec_devices`, are allowed as runc does).
// Not applied (logged): network (v1 only), memory.kernel*, swappiness,
// realtime, rdma.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "oci/spec.h"

namespace kata::agent {

// True when `root` is a cgroup2 mount.
bool Cgroup2Available(const std::string& root);
// Controllers the root offers ("cpu memory pids ...").
std::vector<std::string> CgroupControllers(const std::string& root);

// mkdir <root>/<parent>/<id> with every available controller (cpu, cpuset,
// memory, pids, io, hugetlb) enabled down to it. AlreadyExists if it exists.
Result<std::string> CreateCgroup(const std::string& root, const std::string& parent, const std::string& id);
// Writes pid to <dir>/cgroup.procs.
Status AddToCgroup(const std::string& dir, pid_t pid);
// `resources` is an OCI LinuxResources object (null/empty: nothing to do).
Status ApplyResources(const std::string& dir, const nlohmann::json& resources,
                      const std::vector<oci::Device>& spec_devices = {});
// cgroup.freeze, then waits (up to `timeout`) for cgroup.events to agree.
Status FreezeCgroup(const std::string& dir, bool frozen, std::chrono::milliseconds timeout);
bool CgroupFrozen(const std::string& dir);
std::vector<pid_t> CgroupProcs(const std::string& dir);
// Signals every process in the cgroup (SIGKILL: cgroup.kill when the kernel has it).
Status SignalCgroup(const std::string& dir, int sig);
// rmdir, retried for up to `timeout` while the last processes exit.
Status RemoveCgroup(const std::string& dir, std::chrono::milliseconds timeout);

struct CgroupStats {
  uint64_t cpu_usage_usec = 0, cpu_user_usec = 0, cpu_system_usec = 0;
  uint64_t cpu_nr_periods = 0, cpu_nr_throttled = 0, cpu_throttled_usec = 0;
  uint64_t memory_usage = 0, memory_limit = UINT64_MAX;  // "max" = UINT64_MAX
  uint64_t swap_usage = 0, swap_limit = UINT64_MAX;
  uint64_t pids_current = 0, pids_limit = UINT64_MAX;
  std::map<std::string, uint64_t> memory_stat;  // memory.stat
  std::map<std::string, std::string> raw;       // cpu.stat, memory.stat, memory.events, io.stat, pids.current
};
Result<CgroupStats> ReadCgroupStats(const std::string& dir);

}  // namespace kata::agent
