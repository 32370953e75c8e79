// The device nodes every container's /dev gets (runtime-spec "Default
// Devices"): plan.cc creates them, device_filter.cc always allows them.
#pragma once

namespace kata::agent {

struct DefaultDevice {
  const char* name;  // under /dev
  unsigned major, minor;
};

inline constexpr DefaultDevice kDefaultDevices[] = {{"null", 1, 3},    {"zero", 1, 5},    {"full", 1, 7},
                                                    {"random", 1, 8},  {"urandom", 1, 9}, {"tty", 5, 0}};

}  // namespace kata::agent
