#include "oci/state.h"

#include <ctime>

namespace kata::oci {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if invalid (Go's rules:
// no overlongs, no surrogates, max U+10FFFF). *rune gets the code point.
size_t DecodeUtf8(const std::string& s, size_t i, uint32_t* rune) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n;
  uint32_t r, min;
  if (c >= 0xC2 && c <= 0xDF) { n = 2; r = c & 0x1F; min = 0x80; }
  else if (c >= 0xE0 && c <= 0xEF) { n = 3; r = c & 0x0F; min = 0x800; }
  else if (c >= 0xF0 && c <= 0xF4) { n = 4; r = c & 0x07; min = 0x10000; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    r = (r << 6) | (byte(i + k) & 0x3F);
  }
  if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) return 0;
  *rune = r;
  return n;
}

struct Writer {
  bool pretty;
  std::string out;

  void Newline(int depth) {
    if (!pretty) return;
    out += '\n';
    out.append(static_cast<size_t>(depth) * 2, ' ');
  }
  void Key(const char* k, int depth, bool first) {
    if (!first) out += ',';
    Newline(depth);
    out += GoJsonString(k);
    out += pretty ? ": " : ":";
  }
};

std::string Encode(const State& s, bool pretty) {
  Writer w{pretty, {}};
  w.out += '{';
  w.Key("ociVersion", 1, true);
  w.out += GoJsonString(s.oci_version);
  w.Key("id", 1, false);
  w.out += GoJsonString(s.id);
  w.Key("pid", 1, false);
  w.out += std::to_string(s.pid);
  w.Key("status", 1, false);
  w.out += GoJsonString(s.status);
  w.Key("bundle", 1, false);
  w.out += GoJsonString(s.bundle);
  w.Key("rootfs", 1, false);
  w.out += GoJsonString(s.rootfs);
  w.Key("created", 1, false);
  w.out += GoJsonString(FormatRFC3339Nano(s.created));
  if (!s.annotations.empty()) {
    w.Key("annotations", 1, false);
    w.out += '{';
    bool first = true;
    for (const auto& [k, v] : s.annotations) {
      w.Key(k.c_str(), 2, first);
      w.out += GoJsonString(v);
      first = false;
    }
    w.Newline(1);
    w.out += '}';
  }
  w.Key("owner", 1, false);
  w.out += GoJsonString(s.owner);
  w.Newline(0);
  w.out += '}';
  return w.out;
}

}  // namespace

std::string GoJsonString(const std::string& s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    uint32_t rune = 0;
    size_t n = DecodeUtf8(s, i, &rune);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
    } else if (rune == 0x2028 || rune == 0x2029) {
      out += rune == 0x2028 ? "\\u2028" : "\\u2029";
      i += n;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  out += '"';
  return out;
}

std::string FormatRFC3339Nano(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ns_total = duration_cast<nanoseconds>(t.time_since_epoch()).count();
  int64_t secs = ns_total / 1000000000;
  int64_t nanos = ns_total % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    secs -= 1;
  }
  time_t tt = static_cast<time_t>(secs);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (nanos != 0) {
    char frac[16];
    snprintf(frac, sizeof frac, ".%09lld", static_cast<long long>(nanos));
    std::string f = frac;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  out += 'Z';
  return out;
}

std::string StateJson(const State& state) { return Encode(state, true); }
std::string StateJsonCompact(const State& state) { return Encode(state, false); }

std::string StateListJson(const std::vector<State>& states) {
  if (states.empty()) return "null";
  std::string out = "[";
  for (size_t i = 0; i < states.size(); ++i) {
    if (i > 0) out += ',';
    out += StateJsonCompact(states[i]);
  }
  out += ']';
  return out;
}

}  // namespace kata::oci
