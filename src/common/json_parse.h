// JSON from outside the process (a bundle's config.json, the host's requests
// to the agent) parsed with a bound on nesting.
//
// nlohmann's parser is iterative, but copying, comparing and dumping a value
// recurse once per level: a 200,000-deep [[[...]]] parses, then overflows the
// stack when the spec's linux.seccomp is copied or an error message dumps it.
// Real runtime-spec documents nest about 6 levels (linux.seccomp.syscalls[].
// args[]), so anything deeper than kMaxJsonDepth is refused while parsing.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace kata {

inline constexpr int kMaxJsonDepth = 64;

// Parses `text`; `what` names the document in every error (InvalidArgument):
//   "config.json: invalid JSON: [json.exception.parse_error.101] ..."
//   "config.json: JSON nested deeper than 64 levels"
Result<nlohmann::json> ParseJsonBounded(std::string_view text, const std::string& what,
                                        int max_depth = kMaxJsonDepth);

}  // namespace kata
