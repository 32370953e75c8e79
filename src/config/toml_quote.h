// TOML text of our own making: what ToToml prints (`kata-runtime env`) and
// how a bad value is quoted in an error message.
#pragma once

#include <string>
#include <vector>

namespace kata::config {

// A TOML basic string: quotes, backslashes and control characters escaped.
std::string Quote(const std::string& s);

// A TOML array of basic strings.
std::string QuoteList(const std::vector<std::string>& v);

}  // namespace kata::config
