// configuration.toml: config::ParseToml (toml++ parse, typed readers,
// cross-key checks, Kata's vCPU resolution) and config::ToToml.
//
// Properties: no crash or sanitizer report; errors are InvalidArgument and
// start with the file name; what ToToml prints for an accepted file parses
// back to the same configuration (`kata-runtime env` output is valid TOML
// that means what it says).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"
#include "fuzz_util.h"

using namespace kata;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> warnings, ignored;
  Result<config::Config> c = config::ParseToml(text, "fuzz.toml", &warnings, &ignored);
  if (!c.ok()) {
    FUZZ_CHECK(c.status().code() == Code::kInvalidArgument, c.status().message().c_str());
    FUZZ_CHECK(c.status().message().rfind("fuzz.toml", 0) == 0, c.status().message().c_str());
    return 0;
  }
  config::LoadedConfig loaded{*c, "fuzz.toml", warnings, ignored};
  std::string printed = config::ToToml(loaded);
  Result<config::Config> back = config::ParseToml(printed, "printed.toml");
  FUZZ_CHECK(back.ok(), (back.status().message() + "\n" + printed).c_str());
  FUZZ_CHECK(*back == *c, printed.c_str());
  return 0;
}
