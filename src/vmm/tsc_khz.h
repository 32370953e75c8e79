// The host TSC frequency, for the guest's tsc_early_khz= on -machine
// microvm under TCG: that machine has no HPET or ACPI PM timer and PIT
// calibration fails under TCG, so without it the guest hangs "Marking TSC
// unstable" (guest/README.md). Under TCG the guest TSC runs at the host's rate.
#pragma once

#include <cstdint>
#include <string>

namespace kata::vmm {

// Measured once per boot (rdtsc against CLOCK_MONOTONIC_RAW, median of 3
// 10 ms windows) and cached in `cache_path`; 0 if it cannot be measured.
uint64_t HostTscKhz(const std::string& cache_path = "/run/kata-containers/tsc-khz");

}  // namespace kata::vmm
