// A stand-in for what the agent's parsing code touches on the guest: a
// container rootfs (with /etc/passwd, for HOME) and a cgroup directory
// whose control files are plain files, so resource updates are written
// somewhere harmless. Created once per fuzzer process, removed at exit.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/container/device_filter.h"

namespace kata::fuzz {

struct AgentEnv {
  std::string dir, rootfs, cgroup;

  static const AgentEnv& Get() {
    static AgentEnv* env = [] {
      auto* e = new AgentEnv();
      char tmpl[] = "/tmp/kata-fuzz-agent.XXXXXX";
      e->dir = ::mkdtemp(tmpl);
      e->rootfs = e->dir + "/rootfs";
      e->cgroup = e->dir + "/cgroup";
      std::filesystem::create_directories(e->rootfs + "/etc");
      std::filesystem::create_directories(e->cgroup);
      std::ofstream(e->rootfs + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n";
      for (const char* f : {"memory.low", "memory.max", "memory.swap.max", "cpu.weight", "cpu.max", "cpu.idle",
                            "cpuset.cpus", "cpuset.mems", "io.weight", "io.max", "pids.max",
                            "hugetlb.2MB.max"}) {
        std::ofstream(e->cgroup + "/" + f) << "max\n";
      }
      std::atexit([] { std::filesystem::remove_all(Get().dir); });
      return e;
    }();
    return *env;
  }

  // The files the code reads back start every run the same.
  void Reset() const {
    std::ofstream(cgroup + "/memory.max", std::ios::trunc) << "max\n";
    std::ofstream(cgroup + "/cpu.max", std::ios::trunc) << "max 100000\n";
  }
};

// A device rule's major/minor is -1 ("any") only when the JSON said -1 or
// nothing: 2^64-1 once became -1 and widened a rule to every device.
inline bool RuleNumbersAsWritten(const nlohmann::json& devices, const std::vector<agent::DeviceRule>& rules) {
  for (size_t i = 0; i < rules.size(); ++i) {
    for (const char* key : {"major", "minor"}) {
      int64_t got = key[1] == 'a' ? rules[i].major : rules[i].minor;
      auto it = devices[i].find(key);
      if (it == devices[i].end() || it->is_null()) {
        if (got != -1) return false;
      } else if (!it->is_number_integer() || it->get<int64_t>() != got ||
                 (it->is_number_unsigned() && it->get<uint64_t>() > INT32_MAX)) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace kata::fuzz
