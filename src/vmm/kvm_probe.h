// Chooses QEMU's accelerator. /dev/kvm existing is not enough: on some hosts
// (nested or software-emulated KVM, e.g. kvm_pvm) a KVM guest runs far slower
// than TCG. So "auto" times a tiny guest through the raw KVM API and picks KVM
// only when it runs at hardware speed. The answer is cached per boot.
#pragma once

#include <string>

#include "common/status.h"

namespace kata::vmm {

struct AccelDecision {
  std::string accel;   // "kvm" or "tcg".
  std::string reason;  // One sentence for `kata-runtime check` / logs.
  double probe_us = 0;  // Best timed guest run in microseconds; 0 when no probe ran.
  // /dev/kvm could be opened. A forced "kvm" without it is reported, not
  // refused: the caller turns it into an error.
  bool kvm_usable = false;
  bool cached = false;  // Decision came from the cache file.
};

inline constexpr char kDefaultAccelCachePath[] = "/run/kata-containers/accel-probe";

// Tunables and test seams.
struct ProbeOptions {
  std::string device = "/dev/kvm";
  std::string cache_path = kDefaultAccelCachePath;  // "" disables caching.
  std::string boot_id_path = "/proc/sys/kernel/random/boot_id";
  int timeout_ms = 200;  // Whole probe (fork, VM setup, runs); a hung KVM gives TCG.
  // A KVM run of the probe slower than this means instructions are emulated.
  double threshold_us = 200;
};

// configured: "auto" | "kvm" | "tcg" ([hypervisor.qemu] accelerator).
AccelDecision ChooseAccelerator(const std::string& configured,
                                const std::string& cache_path = kDefaultAccelCachePath);
AccelDecision ChooseAccelerator(const std::string& configured, const ProbeOptions& options);

// The raw measurement (no cache, no decision): best-of-3 time in microseconds
// of one KVM_RUN executing kProbeInstructions guest instructions. Runs in a
// child process killed after timeout_ms.
inline constexpr int kProbeIterations = 5000;  // dec ecx; jnz: 2 instructions each.
inline constexpr int kProbeInstructions = 2 * kProbeIterations + 1;  // + hlt.
Result<double> MeasureKvm(const std::string& device, int timeout_ms);

}  // namespace kata::vmm
