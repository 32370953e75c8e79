// OCI runtime-spec (v1.0-v1.2) configuration types: what config.json holds.
//
// Field names follow the spec (camelCase in JSON, snake_case here). Optional
// objects are std::optional so "absent" and "present but empty" survive a
// round trip (ParseSpec(ToJson(s)) == s). Parsing, validation and JSON output
// live in oci/spec_json.h.
//
// Note: the member for the spec's "linux" object is `linux_config` because GCC
// defines the macro `linux` in gnu++ modes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kata::oci {

struct ConsoleSize {
  uint32_t height = 0;
  uint32_t width = 0;
  bool operator==(const ConsoleSize&) const = default;
};

struct User {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::optional<uint32_t> umask;
  std::vector<uint32_t> additional_gids;
  std::string username;  // Windows only in the spec; kept for round trips
  bool operator==(const User&) const = default;
};

struct Capabilities {
  std::vector<std::string> bounding, effective, inheritable, permitted, ambient;
  bool operator==(const Capabilities&) const = default;
};

struct Rlimit {
  std::string type;  // "RLIMIT_NOFILE", ...
  uint64_t hard = 0;
  uint64_t soft = 0;
  bool operator==(const Rlimit&) const = default;
};

struct Process {
  bool terminal = false;
  std::optional<ConsoleSize> console_size;
  User user;
  std::vector<std::string> args;
  std::vector<std::string> env;  // "KEY=VALUE"
  std::string cwd;
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::string apparmor_profile;
  std::optional<int> oom_score_adj;
  std::string selinux_label;
  bool operator==(const Process&) const = default;
};

struct Root {
  std::string path;
  bool readonly = false;
  bool operator==(const Root&) const = default;
};

struct Mount {
  std::string destination;  // absolute path inside the container
  std::string type;         // "proc", "tmpfs", "bind", ... (empty: bind if options say so)
  std::string source;
  std::vector<std::string> options;
  bool operator==(const Mount&) const = default;
};

struct Hook {
  std::string path;  // absolute
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds, > 0
  bool operator==(const Hook&) const = default;
};

struct Hooks {
  std::vector<Hook> prestart;  // deprecated in the spec, still honoured
  std::vector<Hook> create_runtime;
  std::vector<Hook> create_container;
  std::vector<Hook> start_container;
  std::vector<Hook> poststart;
  std::vector<Hook> poststop;
  bool operator==(const Hooks&) const = default;
};

struct Namespace {
  std::string type;  // pid | network | mount | ipc | uts | user | cgroup | time
  std::string path;  // join this namespace instead of creating one
  bool operator==(const Namespace&) const = default;
};

struct IdMapping {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;
  bool operator==(const IdMapping&) const = default;
};

struct Device {
  std::string type;  // c | b | u | p
  std::string path;  // absolute, inside the container
  int64_t major = 0;
  int64_t minor = 0;
  std::optional<uint32_t> file_mode;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  bool operator==(const Device&) const = default;
};

// linux.resources: `raw` is the object exactly as given and is what ToJson
// writes back; the typed fields are a read-only view of the common knobs
// (the cgroup code may read either).
struct Resources {
  nlohmann::json raw = nlohmann::json::object();
  std::optional<int64_t> memory_limit;
  std::optional<int64_t> memory_reservation;
  std::optional<int64_t> memory_swap;
  std::optional<uint64_t> cpu_shares;
  std::optional<int64_t> cpu_quota;
  std::optional<uint64_t> cpu_period;
  std::string cpuset_cpus;
  std::string cpuset_mems;
  std::optional<int64_t> pids_limit;
  bool operator==(const Resources&) const = default;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings;
  std::vector<IdMapping> gid_mappings;
  std::map<std::string, std::string> sysctl;
  std::optional<Resources> resources;
  std::string cgroups_path;
  std::vector<Device> devices;
  nlohmann::json seccomp;  // raw linux.seccomp object; null when absent
  std::vector<std::string> masked_paths;
  std::vector<std::string> readonly_paths;
  std::string rootfs_propagation;  // "" | private | rprivate | slave | rslave | shared | rshared | unbindable | runbindable
  std::string mount_label;
  bool operator==(const Linux&) const = default;
};

struct Spec {
  std::string oci_version;
  std::optional<Process> process;
  Root root;  // required on Linux: validation rejects an empty root.path
  std::string hostname;
  std::string domainname;
  std::vector<Mount> mounts;
  std::optional<Hooks> hooks;
  std::map<std::string, std::string> annotations;
  std::optional<Linux> linux_config;  // the "linux" object
  bool operator==(const Spec&) const = default;
};

// Helpers shared by validation and the launcher.
// Returns the RLIMIT_* resource number for "RLIMIT_NOFILE" etc., or -1.
int RlimitResource(const std::string& type);
// True for the namespace types the spec defines.
bool IsKnownNamespaceType(const std::string& type);

}  // namespace kata::oci
