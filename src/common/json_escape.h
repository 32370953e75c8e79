// JSON string escaping for the few places that write JSON without a document
// (log lines must stay dependency-free so the static agent can use them).
// DEL is escaped too, which JSON allows and TOML requires: the result is
// also a TOML basic string (config/to_toml.cc, configuration error texts).
#pragma once

#include <cstdio>
#include <string>

namespace kata {

inline std::string JsonEscape(const std::string& in) {
  std::string out;
  out.reserve(in.size() + 8);
  for (unsigned char c : in) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

// A JSON string literal, quotes included: how error messages show a value.
inline std::string JsonQuote(const std::string& in) { return "\"" + JsonEscape(in) + "\""; }

}  // namespace kata
