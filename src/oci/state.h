// The container state document `runc state` prints (and hooks read on stdin):
//
//   {
//     "ociVersion": "1.0.2-dev",
//     "id": "c1",
//     "pid": 4242,
//     "status": "running",
//     "bundle": "/path/to/bundle",
//     "rootfs": "/path/to/bundle/rootfs",
//     "created": "2024-05-01T10:11:12.123456789Z",
//     "annotations": {"k": "v"},      <- omitted when empty
//     "owner": ""
//   }
//
// Byte-compatible with Go's json.MarshalIndent(v, "", "  ") of runc's
// containerState: same field order, 2-space indent, no trailing newline, Go
// string escaping (<, >, & as \u003c..., invalid UTF-8 as \ufffd).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace kata::oci {

inline constexpr const char* kRuncSpecVersion = "1.0.2-dev";

struct State {
  std::string oci_version = kRuncSpecVersion;
  std::string id;
  int pid = 0;  // 0 when stopped
  std::string status;  // creating | created | running | paused | stopped | unknown
  std::string bundle;
  std::string rootfs;
  std::chrono::system_clock::time_point created{};
  std::map<std::string, std::string> annotations;
  std::string owner;  // always "" from runc
};

// Pretty (2-space) form printed by `state`.
std::string StateJson(const State& state);
// Compact form, one object (runc's `list --format json` uses this per entry).
std::string StateJsonCompact(const State& state);
// `list --format json`: a compact JSON array, "null" for no containers (as Go
// encodes a nil slice), no trailing newline.
std::string StateListJson(const std::vector<State>& states);

// Go's time.RFC3339Nano in UTC: "2006-01-02T15:04:05.999999999Z" (trailing
// zeros of the fraction dropped, the dot too when the fraction is zero).
std::string FormatRFC3339Nano(std::chrono::system_clock::time_point t);

// A JSON string literal (with quotes) escaped the way Go's encoding/json does.
std::string GoJsonString(const std::string& s);

}  // namespace kata::oci
