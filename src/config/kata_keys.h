// Keys and tables that upstream Kata (Go runtime, runtime-rs, and 1.x) accepts
// but this runtime does not implement. They are accepted so an operator's
// existing Kata file loads; anything outside this list is an unknown key and
// warns (usually a typo).
#pragma once

#include <string>

namespace kata::config {

// `table` is dotted ("hypervisor.qemu", "agent.kata", "runtime", "factory").
bool IsKataOnlyKey(const std::string& table, const std::string& key);
// Top-level tables Kata has had that we ignore entirely ("netmon", "image",
// "proxy", "shim").
bool IsKataOnlyTable(const std::string& name);

}  // namespace kata::config
