// Small string helpers shared by host components.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace kata {

// The last `n` lines of `text` without the trailing newline(s): what error
// messages quote from a log.
inline std::string TailLines(const std::string& text, int n) {
  size_t end = text.find_last_not_of('\n');
  if (end == std::string::npos) return "";
  size_t start = end + 1;
  for (int i = 0; i < n && start > 0; i++) {
    size_t nl = text.rfind('\n', start - 1);
    start = nl == std::string::npos ? 0 : nl;
    if (nl == std::string::npos) break;
  }
  if (start > 0 || text[0] == '\n') start++;
  return text.substr(start, end + 1 - start);
}

// `text` without leading and trailing whitespace (a kernel file's newline).
inline std::string Trim(const std::string& text) {
  size_t b = text.find_first_not_of(" \t\n\r");
  if (b == std::string::npos) return "";
  return text.substr(b, text.find_last_not_of(" \t\n\r") + 1 - b);
}

// The parts of `s` between the separators (an empty part is kept; none for "").
inline std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string part; std::getline(in, part, sep);) out.push_back(part);
  return out;
}

}  // namespace kata
