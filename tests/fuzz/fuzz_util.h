// Shared by the fuzz targets: quiet logs and a check that aborts (so
// libFuzzer records the input) when a property of the code under test fails.
#pragma once

#include <fcntl.h>

#include <cstdio>
#include <cstdlib>

#include "common/log.h"

namespace kata::fuzz {

// Warnings about bad input are the expected outcome; writing them to stderr
// would drown libFuzzer's own output and slow every run down.
inline void QuietLogs() {
  static const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  log::Configure(devnull, log::Level::kError, log::Format::kText);
}

#define FUZZ_CHECK(cond, what)                                              \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s: %s\n", #cond, (what)); \
      std::abort();                                                         \
    }                                                                       \
  } while (0)

}  // namespace kata::fuzz
