// What a cloned child will do, worked out by the parent beforehand: every
// string, path, flag and argv/envp array the child needs, so the child only
// makes syscalls (see child_util.h). Plans hold pointers into themselves
// (argv/envp), so they are built in place and never copied or moved.
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "oci/spec.h"

namespace kata::agent {

struct LaunchSpec;

struct MountStep {
  std::string source;
  std::string fstype;    // "" for bind mounts
  std::string dest;      // container path, for messages: "/proc"
  std::string dest_rel;  // relative to the rootfs: "proc"
  std::string data;
  unsigned long flags = 0;  // includes MS_BIND[|MS_REC] for binds
  std::vector<unsigned long> propagation;
  bool bind = false;
  bool remount = false;  // bind + ro/nosuid/...: needs MS_REMOUNT to apply flags
  std::string what;      // "proc on /proc"
  // A bind's source opened (O_PATH) by the child before it becomes a user
  // namespace's root, who may not reach it by its path (rootfs.h).
  int source_fd = -1;
};

struct DeviceStep {
  std::string path;        // "/dev/null"
  std::string parent_rel;  // "dev"
  std::string name;        // "null"
  std::string outer;       // same device in the agent's /dev, bind-mounted if mknod fails
  mode_t mode = 0;         // S_IFCHR | 0666
  dev_t dev = 0;
  bool chown = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct SysctlStep {
  std::string key;   // "net.ipv4.ip_forward"
  std::string path;  // "/proc/sys/net/ipv4/ip_forward"
  std::string value;
  bool written = false;  // by the child, before a user namespace's id maps
};

struct RlimitStep {
  int resource = 0;
  struct rlimit limit = {};
  std::string type;
};

// A startContainer hook (start_hooks.h); argv/envp point into args/env.
struct HookStep {
  std::string path;
  std::vector<std::string> args, env;
  std::vector<char*> argv, envp;
  int timeout_s = 0;  // 0: none
  std::string what;   // "startContainer hook /path"
};

// The process part, shared by the container init and exec'd processes.
struct ProcessPlan {
  ProcessPlan() = default;
  ProcessPlan(const ProcessPlan&) = delete;
  ProcessPlan& operator=(const ProcessPlan&) = delete;

  std::vector<std::string> args;
  std::vector<std::string> env;
  std::vector<char*> argv;  // into args, null-terminated
  std::vector<char*> envp;  // into env, null-terminated
  // args[0] resolution: the paths to try in order (one when it has a '/').
  std::vector<std::string> candidates;
  bool arg0_has_slash = false;
  std::string exec_prefix;  // `exec: "foo": `
  std::string not_found;    // `exec: "foo": executable file not found in $PATH`
  std::string cwd;
  std::string cwd_rel;      // cwd without the leading '/'
  std::string cwd_what;     // `chdir to cwd "/x"`
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  mode_t umask = 022;
  std::vector<RlimitStep> rlimits;
  bool set_oom = false;
  std::string oom_value;
  bool no_new_privs = false;
  bool terminal = false;
  // With terminal: the child opens /dev/ptmx of the container (its own devpts
  // instance, so `tty` names /dev/pts/N inside) and sends the master over the
  // sync socket; false = stdio already are a pty slave allocated by the agent.
  bool console_in_container = false;
  bool set_winsize = false;
  unsigned short rows = 0, cols = 0;
  int stdio[3] = {-1, -1, -1};
  // Capabilities (security.h): masks indexed by capability number.
  bool set_caps = false;
  int cap_last = 40;
  uint64_t cap_bounding = 0, cap_effective = 0, cap_permitted = 0, cap_inheritable = 0, cap_ambient = 0;
  // Seccomp BPF compiled by the parent (empty = none).
  std::vector<struct sock_filter> seccomp;
  unsigned seccomp_flags = 0;
  bool seccomp_early = false;
};

struct LaunchPlan {
  LaunchPlan() = default;
  LaunchPlan(const LaunchPlan&) = delete;
  LaunchPlan& operator=(const LaunchPlan&) = delete;

  std::string rootfs;
  unsigned long final_propagation = 0;  // rootfsPropagation other than (r)private
  std::vector<MountStep> mounts;
  bool default_devices = true;          // false when /dev is bind-mounted from outside
  std::vector<DeviceStep> devices;      // defaults + linux.devices
  bool no_pivot = false;
  bool readonly_root = false;
  std::vector<std::string> masked_paths;
  std::vector<std::string> readonly_paths;
  std::vector<SysctlStep> sysctls;
  bool set_hostname = false;
  std::string hostname;
  bool set_domainname = false;
  std::string domainname;
  bool userns = false;  // the parent writes id maps, then the child continues
  // The parent moves the child into its cgroup (and writes id maps), then
  // sends 'M'; the child waits for it when set.
  bool parent_sync = false;
  // cgroup namespace: unshared by the child after the 'M' sync, so its root
  // is the container's cgroup (clone would root it at the agent's).
  bool unshare_cgroupns = false;
  // Bind-mounted for mounts of type cgroup/cgroup2 ("" = those are skipped).
  std::string cgroup_dir;
  // startContainer hooks, and the state JSON they read around the pid.
  std::vector<HookStep> start_hooks;
  std::string hook_state_head, hook_state_tail;
  ProcessPlan proc;
};

// Fills `plan` from an OCI process. `root_dirfd` is a directory fd of the
// container's root (for HOME from /etc/passwd when env has none), or -1.
Status BuildProcessPlan(const oci::Process& process, int root_dirfd, ProcessPlan* plan);

// Everything but namespaces (launch.cc decides those).
Status BuildLaunchPlan(const LaunchSpec& spec, LaunchPlan* plan);

}  // namespace kata::agent
