// The sandbox's cgroup on the host (Kata's `sandbox_cgroup_only`): created
// at the spec's cgroupsPath as runc would, joined by the process that runs
// the sandbox before it starts the VMM, so that QEMU with its vCPU and I/O
// threads, and the service itself, are counted and limited there. Removed
// with the sandbox (or by `delete` after a crash: the directories are
// recorded in the VM's run dir).
//
// Works on cgroup v2, and on v1 or hybrid hosts (a directory per mounted
// hierarchy; each knob goes to the hierarchy that has its controller).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "oci/spec.h"

namespace kata::sandbox {

// What the host enforces for the whole sandbox.
struct HostLimits {
  std::optional<int64_t> cpu_quota;  // microseconds per cpu_period
  uint64_t cpu_period = 100000;
  std::optional<uint64_t> cpu_shares;
  std::string cpuset_cpus;
  std::optional<int64_t> memory_bytes;
  std::optional<int64_t> pids;
  std::optional<uint16_t> blkio_weight;
  // blockIO throttles by "major:minor": read bps, write bps, read iops,
  // write iops (0 = none). Host devices: they bind the VM's own I/O.
  std::map<std::string, std::array<uint64_t, 4>> throttles;
  bool operator==(const HostLimits&) const = default;
};

// Room on top of the containers' own limits for what the VM costs the host
// beyond its workload: QEMU (under TCG its translated-code cache too), the
// guest kernel and agent, the service; threads of QEMU's I/O pool. Measured
// under TCG (tests/integration/host_resources_test.cc prints it): an idle
// sandbox charges ~91 MiB, one whose container filled its 128 MiB peaked at
// 214 MiB, 86 MiB over: about twice that. docs/host-resources.md.
inline constexpr int64_t kVmMemoryOverheadBytes = 192ll << 20;
inline constexpr int64_t kVmPidsOverhead = 256;

// The sandbox's limits from its containers' (Kata's rule: a container that
// sets no limit for a resource does not count for it, e.g. the pause
// container; none set = unlimited). CPU quotas add up as CPUs; memory and
// pids add up plus the VM's overhead; cpusets are united; the largest
// blkio weight wins; throttle rates add up per device.
HostLimits SandboxLimits(const std::map<std::string, oci::Resources>& containers);

// The vCPUs a VM needs online for its containers: their CPU quotas added
// up, rounded up, at least `boot` and at most `max` (0 = `boot`). Kata adds
// the quotas to default_vcpus; we take the larger, so a container limited to
// one CPU in a one-vCPU VM costs no onlining.
int VcpusFor(const std::map<std::string, oci::Resources>& containers, int boot, int max);

// The memory (MiB) a VM needs for its containers: `guest` (what the guest
// itself uses: Kata's default_memory) plus their memory limits, at least
// `boot` and at most `max` (0 = `boot`). None with a limit: `boot`.
int MemoryFor(const std::map<std::string, oci::Resources>& containers, int guest, int boot, int max);

// `base` with what `update` sets (runc update's merge: unset fields keep
// their values).
oci::Resources MergeResources(const oci::Resources& base, const oci::Resources& update);

// runc's reading of linux.cgroupsPath: "/a/b" from each hierarchy's root;
// "a/b" under this process's own cgroup; systemd's "slice:prefix:name"
// expanded as systemd names it (a-b.slice -> /a.slice/a-b.slice/,
// then prefix-name.scope). Nothing asks systemd: the directories are made
// directly, which is all a host without systemd (these machines) has.
Result<std::string> CgroupfsPath(const std::string& cgroups_path);

class HostCgroup {
 public:
  // Makes the directories (parents too) in every hierarchy. An error names
  // the directory; nothing is left made. Unavailable: no hierarchy is
  // mounted here at all.
  static Result<HostCgroup> Create(const std::string& cgroups_path);
  // The directories recorded by Record(): only to join or remove them.
  static HostCgroup FromDirs(std::vector<std::string> dirs);
  HostCgroup() = default;

  const std::vector<std::string>& dirs() const { return dirs_; }
  bool empty() const { return dirs_.empty(); }
  // Writes the limits; those the host has no controller for are skipped.
  // `before`: what was written last, so that a throttle no longer asked for
  // is lifted.
  Status Apply(const HostLimits& limits, const HostLimits& before = {}) const;
  // Moves `pid` (all its threads) in. This process's own cgroups are kept
  // first, for Leave().
  Status Join(pid_t pid);
  // Moves this process back where it was before Join(getpid()).
  void Leave() const;
  // Removes the directories we made (the leaf; parents another runtime may
  // share are left). Processes still inside make it fail (EBUSY), named.
  Status Remove() const;
  // One directory per line, for RemoveVmLeftovers.
  Status Record(const std::string& file) const;
  static Result<HostCgroup> Recorded(const std::string& file);

 private:
  std::vector<std::string> dirs_;
  std::vector<std::string> own_dirs_;  // where this process was before Join
};

// The cgroup directories (cgroup.procs inside) process `pid` ("self") is in,
// one per hierarchy.
std::vector<std::string> CgroupDirsOf(const std::string& pid);
// Moves `pid` into the cgroups process `of` ("self") is in, where they
// differ; failures are logged, naming `what`.
void MoveToCgroupsOf(const std::string& of, pid_t pid, const std::string& what);

}  // namespace kata::sandbox
