// Global options of kata-runtime (runc's, plus --config).
#pragma once

#include <string>

namespace kata::cli {

struct GlobalOptions {
  std::string root = "/run/kata-containers/runtime";
  std::string log;  // "" = stderr
  std::string log_format = "text";
  std::string config;  // explicit configuration.toml (Kata's --config)
  bool debug = false;
  bool systemd_cgroup = false;
};

}  // namespace kata::cli
