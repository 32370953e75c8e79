// tsc-khz: print the host TSC frequency in kHz (for the guest's tsc_early_khz=).
//
// Under QEMU TCG the guest TSC ticks at the host TSC rate, but the guest has
// no way to calibrate it on -machine microvm (no HPET / ACPI PM timer, and PIT
// calibration fails under TCG), so the runtime must tell it.  This is the
// reference implementation; the runtime does the same (once per process).
// Build: gcc -O2 -o tsc-khz tsc-khz.c
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static uint64_t ns_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(void) {
  // Median of 5 x 20 ms windows; each window is bracketed tightly.
  double khz[5];
  for (int i = 0; i < 5; i++) {
    uint64_t n0 = ns_now();
    uint64_t t0 = __rdtsc();
    uint64_t n1;
    do n1 = ns_now(); while (n1 - n0 < 20000000ull);
    uint64_t t1 = __rdtsc();
    khz[i] = (double)(t1 - t0) * 1e6 / (double)(n1 - n0);
  }
  for (int i = 1; i < 5; i++)
    for (int j = i; j > 0 && khz[j] < khz[j - 1]; j--) {
      double t = khz[j]; khz[j] = khz[j - 1]; khz[j - 1] = t;
    }
  printf("%.0f\n", khz[2]);
  return 0;
}
