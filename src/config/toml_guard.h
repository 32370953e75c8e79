// toml++ 3.3.0 (Debian 12) classifies a non-ASCII character as whitespace
// with a generated table that has holes: U+00A1-U+0499, among others, reach
// __builtin_unreachable (undefined behaviour; marzer/tomlplusplus#190, fixed
// upstream after 3.3.0; found by tests/fuzz/fuzz_config). CheckNonAscii runs
// before toml::parse and refuses the two places where toml++ would ask.
#pragma once

#include <string>
#include <toml++/toml.h>

#include "common/status.h"

namespace kata::config {

// Ok for pure-ASCII text and for text whose non-ASCII characters sit only
// where toml++ never classifies them (inside strings and comments);
// otherwise InvalidArgument "<source>:<line>:<col>: non-ASCII character ...".
Status CheckNonAscii(const std::string& text, const std::string& source);

// A toml++ parse error as "<source>:<line>:<col>: <description><note>".
Status TomlParseError(const toml::parse_error& e, const std::string& source, const std::string& note = "");

}  // namespace kata::config
