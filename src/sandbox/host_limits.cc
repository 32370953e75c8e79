// How the pod's containers' resources add up to what the sandbox gets: the
// host cgroup's limits and the guest's online vCPUs (sandbox/host_cgroup.h).
#include "sandbox/host_cgroup.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <set>

namespace kata::sandbox {
namespace {

// CPUs a container's quota asks for (0 without one).
double QuotaCpus(const oci::Resources& r) {
  if (!r.cpu_quota || *r.cpu_quota <= 0) return 0;
  uint64_t p = r.cpu_period && *r.cpu_period > 0 ? *r.cpu_period : 100000;
  return static_cast<double>(*r.cpu_quota) / static_cast<double>(p);
}

// linux.resources.blockIO: its weight and throttles into `l`.
void AddBlockIo(const nlohmann::json& raw, HostLimits* l) {
  auto b = raw.find("blockIO");
  if (b == raw.end() || !b->is_object()) return;
  if (b->contains("weight") && (*b)["weight"].is_number_unsigned()) {
    auto weight = static_cast<uint16_t>((*b)["weight"].get<unsigned>());
    if (weight > 0) l->blkio_weight = std::max<uint16_t>(l->blkio_weight.value_or(0), weight);
  }
  const char* kinds[] = {"throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice"};
  for (size_t k = 0; k < 4; k++) {
    auto list = b->find(kinds[k]);
    if (list == b->end() || !list->is_array()) continue;
    for (const auto& d : *list) {
      if (!d.is_object() || !d.value("major", nlohmann::json()).is_number_integer() ||
          !d.value("minor", nlohmann::json()).is_number_integer() || !d.value("rate", nlohmann::json()).is_number_unsigned()) {
        continue;
      }
      std::string dev = std::to_string(d["major"].get<int64_t>()) + ":" + std::to_string(d["minor"].get<int64_t>());
      l->throttles[dev][k] += d["rate"].get<uint64_t>();
    }
  }
}

}  // namespace

HostLimits SandboxLimits(const std::map<std::string, oci::Resources>& containers) {
  HostLimits l;
  double cpus = 0;
  std::optional<uint64_t> period;
  std::set<std::string> cpusets;
  for (const auto& [id, r] : containers) {
    if (double c = QuotaCpus(r); c > 0) {
      if (!period) period = r.cpu_period && *r.cpu_period > 0 ? *r.cpu_period : 100000;
      cpus += c;
    }
    if (r.cpu_shares && *r.cpu_shares > 0) l.cpu_shares = l.cpu_shares.value_or(0) + *r.cpu_shares;
    if (r.memory_limit && *r.memory_limit > 0) l.memory_bytes = l.memory_bytes.value_or(0) + *r.memory_limit;
    if (r.pids_limit && *r.pids_limit > 0) l.pids = l.pids.value_or(0) + *r.pids_limit;
    if (!r.cpuset_cpus.empty()) cpusets.insert(r.cpuset_cpus);
    AddBlockIo(r.raw, &l);
  }
  if (period) {
    l.cpu_period = *period;
    l.cpu_quota = std::max<int64_t>(1000, static_cast<int64_t>(std::ceil(cpus * static_cast<double>(*period))));
  }
  if (l.memory_bytes) *l.memory_bytes += kVmMemoryOverheadBytes;
  if (l.pids) *l.pids += kVmPidsOverhead;
  for (const std::string& s : cpusets) l.cpuset_cpus += (l.cpuset_cpus.empty() ? "" : ",") + s;
  return l;
}

int VcpusFor(const std::map<std::string, oci::Resources>& containers, int boot, int max) {
  double cpus = 0;
  for (const auto& [id, r] : containers) cpus += QuotaCpus(r);
  int want = std::max(boot, static_cast<int>(std::ceil(cpus - 1e-9)));
  return std::min(want, std::max(boot, max));
}

int MemoryFor(const std::map<std::string, oci::Resources>& containers, int guest, int boot, int max) {
  constexpr int64_t kMib = 1 << 20;
  int64_t mib = 0;  // bounded below INT_MAX as it adds up: limits are up to 2^63 bytes each
  bool any = false;
  for (const auto& [id, r] : containers) {
    if (!r.memory_limit || *r.memory_limit <= 0) continue;
    any = true;
    mib = std::min<int64_t>(INT_MAX, mib + *r.memory_limit / kMib + (*r.memory_limit % kMib != 0));
  }
  if (!any) return boot;
  int64_t want = std::max<int64_t>(boot, std::min<int64_t>(INT_MAX, mib + guest));
  return static_cast<int>(std::min<int64_t>(want, std::max(boot, max)));
}

oci::Resources MergeResources(const oci::Resources& base, const oci::Resources& update) {
  oci::Resources r = base;
  r.raw.merge_patch(update.raw);
  for (auto [to, from] : {std::pair{&r.memory_limit, &update.memory_limit}, {&r.memory_reservation, &update.memory_reservation},
                          {&r.memory_swap, &update.memory_swap}, {&r.cpu_quota, &update.cpu_quota},
                          {&r.pids_limit, &update.pids_limit}}) {
    if (*from) *to = *from;
  }
  if (update.cpu_shares) r.cpu_shares = update.cpu_shares;
  if (update.cpu_period) r.cpu_period = update.cpu_period;
  if (!update.cpuset_cpus.empty()) r.cpuset_cpus = update.cpuset_cpus;
  if (!update.cpuset_mems.empty()) r.cpuset_mems = update.cpuset_mems;
  return r;
}

}  // namespace kata::sandbox
