#include "vmm/tsc_khz.h"

#include <time.h>
#include <x86intrin.h>

#include <algorithm>
#include <array>

#include "common/fs.h"

namespace kata::vmm {
namespace {

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t Measure() {
  std::array<double, 3> khz{};
  for (double& k : khz) {
    uint64_t n0 = NowNs();
    uint64_t t0 = __rdtsc();
    uint64_t n1;
    do {
      n1 = NowNs();
    } while (n1 - n0 < 10000000ull);
    uint64_t t1 = __rdtsc();
    k = static_cast<double>(t1 - t0) * 1e6 / static_cast<double>(n1 - n0);
  }
  std::sort(khz.begin(), khz.end());
  return static_cast<uint64_t>(khz[1]);
}

std::string BootId() {
  auto id = fs::ReadFile("/proc/sys/kernel/random/boot_id");
  return id.ok() ? *id : "";
}

}  // namespace

uint64_t HostTscKhz(const std::string& cache_path) {
  std::string boot = BootId();
  if (auto cached = fs::ReadFile(cache_path); cached.ok()) {
    size_t nl = cached->find('\n');
    if (nl != std::string::npos && cached->substr(nl + 1) == boot) return std::stoull(cached->substr(0, nl));
  }
  uint64_t khz = Measure();
  if (fs::MkdirAll(fs::Dirname(cache_path), 0755).ok()) {
    Status st = fs::WriteFileAtomic(cache_path, std::to_string(khz) + "\n" + boot, 0644);
    (void)st;  // uncached is only slower
  }
  return khz;
}

}  // namespace kata::vmm
