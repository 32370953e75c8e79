// Numbers and ids from the command line and from other processes. Input is
// checked, never trusted: decimal digits only, the whole text, in range;
// errors quote the text (shortened) and say what was expected. Nothing here
// throws (std::stoi did, and an uncaught exception aborted the CLI).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"

namespace kata::cli {

// `text` in double quotes for an error message, cut at 64 characters.
std::string Quote(const std::string& text);

// A decimal integer in [min, max]; `what` names it in the error
// ("invalid --memory \"12x\": want an integer").
Result<int64_t> ParseInteger(const std::string& text, const std::string& what, int64_t min = INT64_MIN,
                             int64_t max = INT64_MAX);

// runc's `exec --user`: UID[:GID], each 0 to 4294967294 (4294967295 is
// (uid_t)-1, "no change" to the kernel).
struct UserSpec {
  uint32_t uid = 0;
  std::optional<uint32_t> gid;
};
Result<UserSpec> ParseUserSpec(const std::string& text);

}  // namespace kata::cli
