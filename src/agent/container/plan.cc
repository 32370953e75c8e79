#include "agent/container/plan.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>

#include "agent/container/default_devices.h"
#include "agent/container/launch.h"
#include "agent/container/mount_options.h"
#include "agent/container/start_hooks.h"
#include "common/json_escape.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace kata::agent {
namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string Quote(const std::string& s) { return JsonQuote(s); }

std::string EnvValue(const std::vector<std::string>& env, const std::string& key, bool* found) {
  *found = false;
  std::string value;
  for (const std::string& e : env) {  // the last one wins, as in execve's environ
    if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=') {
      value = e.substr(key.size() + 1);
      *found = true;
    }
  }
  return value;
}

// HOME of `uid` from <root>/etc/passwd (resolved inside the root), "/" if none.
std::string HomeOf(int root_dirfd, uid_t uid) {
  if (root_dirfd < 0) return "/";
  struct open_how how = {};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd(static_cast<int>(syscall(SYS_openat2, root_dirfd, "etc/passwd", &how, sizeof how)));
  if (!fd.valid()) return "/";
  std::string text;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0 && text.size() < (1 << 20)) text.append(buf, n);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    std::vector<std::string> f;
    size_t s = 0;
    for (;;) {
      size_t c = line.find(':', s);
      f.push_back(line.substr(s, c == std::string::npos ? std::string::npos : c - s));
      if (c == std::string::npos) break;
      s = c + 1;
    }
    if (f.size() >= 7 && f[2] == std::to_string(uid) && !f[5].empty()) return f[5];
  }
  return "/";
}

std::string Relative(const std::string& abs) {
  size_t i = 0;
  while (i < abs.size() && abs[i] == '/') ++i;
  return abs.substr(i);
}

void SplitParent(const std::string& rel, std::string* parent, std::string* name) {
  size_t slash = rel.rfind('/');
  if (slash == std::string::npos) {
    *parent = "";
    *name = rel;
  } else {
    *parent = rel.substr(0, slash);
    *name = rel.substr(slash + 1);
  }
}

Status AddMount(const oci::Mount& m, size_t index, LaunchPlan* plan) {
  MountOptions opts = ParseMountOptions(m.options);
  if (m.type == "cgroup" || m.type == "cgroup2") {
    if (plan->cgroup_dir.empty()) {
      log::Debug("container mount " + m.destination + ": no cgroup for the container, " + m.type + " mount skipped");
      return {};
    }
    // The container's own cgroup directory (cgroup v2), as runc shows it
    // without a cgroup namespace; flags (ro, nosuid, ...) as asked.
    MountStep step;
    step.bind = true;
    step.source = plan->cgroup_dir;
    step.dest = m.destination;
    step.dest_rel = Relative(m.destination);
    step.flags = (opts.flags & ~MS_REC) | MS_BIND;
    step.remount = (opts.flags & ~(MS_BIND | MS_REC | MS_REMOUNT)) != 0;
    step.propagation = opts.propagation;
    step.what = "cgroup on " + m.destination;
    plan->mounts.push_back(std::move(step));
    return {};
  }
  if (opts.tmpcopyup) log::Debug("container mount " + m.destination + ": tmpcopyup is not supported yet, ignored");
  MountStep step;
  step.bind = opts.bind || m.type == "bind";
  step.source = m.source;
  step.fstype = step.bind ? "" : m.type;
  step.dest = m.destination;
  step.dest_rel = Relative(m.destination);
  step.data = opts.data;
  if (m.type == "devpts") {
    // A private pts instance whose ptmx anyone may open (/dev/ptmx -> pts/ptmx).
    auto has = [&](const std::string& key) { return ("," + step.data).find("," + key) != std::string::npos; };
    if (!has("newinstance")) step.data += std::string(step.data.empty() ? "" : ",") + "newinstance";
    if (!has("ptmxmode=")) step.data += ",ptmxmode=0666";
  }
  step.flags = opts.flags;
  if (step.bind) step.flags |= MS_BIND | (opts.recursive ? MS_REC : 0);
  step.propagation = opts.propagation;
  std::string where = "mounts[" + std::to_string(index) + "]";
  if (step.bind) {
    if (m.source.empty() || m.source[0] != '/') {
      return Error(Code::kInvalidArgument,
                   where + ": bind mount source " + Quote(m.source) + " must be an absolute path");
    }
    unsigned long extra = step.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
    step.remount = extra != 0;
  } else if (m.type.empty()) {
    return Error(Code::kInvalidArgument, where + " (" + m.destination + "): type is required for a non-bind mount");
  }
  step.what = (step.bind ? m.source : (m.source.empty() ? m.type : m.source)) + " on " + m.destination;
  plan->mounts.push_back(std::move(step));
  return {};
}

void AddDevice(const std::string& path, mode_t mode, dev_t dev, std::string outer, LaunchPlan* plan) {
  DeviceStep d;
  d.path = path;
  SplitParent(Relative(path), &d.parent_rel, &d.name);
  d.outer = std::move(outer);
  d.mode = mode;
  d.dev = dev;
  plan->devices.push_back(std::move(d));
}

Status AddSpecDevice(const oci::Device& d, LaunchPlan* plan) {
  mode_t type = 0;
  if (d.type == "c" || d.type == "u") type = S_IFCHR;
  if (d.type == "b") type = S_IFBLK;
  if (d.type == "p") type = S_IFIFO;
  if (type == 0) return Error(Code::kInvalidArgument, "device " + d.path + ": unknown type " + Quote(d.type));
  mode_t perm = d.file_mode ? (*d.file_mode & 07777) : 0666;
  AddDevice(d.path, type | perm, makedev(static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor)),
            d.path, plan);
  DeviceStep& step = plan->devices.back();
  if (d.uid || d.gid) {
    step.chown = true;
    step.uid = d.uid.value_or(0);
    step.gid = d.gid.value_or(0);
  }
  return {};
}

}  // namespace

// Where exec looks for args[0], as Go's exec.LookPath (runc reports the same).
static void PlanExecutableLookup(const oci::Process& p, ProcessPlan* plan) {
  const std::string& arg0 = p.args[0];
  plan->exec_prefix = "exec: " + Quote(arg0) + ": ";
  plan->not_found = plan->exec_prefix + "executable file not found in $PATH";
  plan->arg0_has_slash = arg0.find('/') != std::string::npos;
  if (plan->arg0_has_slash) {
    plan->candidates.push_back(arg0);
    return;
  }
  bool has_path = false;
  std::string path = EnvValue(p.env, "PATH", &has_path);
  if (!has_path) path = kDefaultPath;
  size_t s = 0;
  for (;;) {
    size_t c = path.find(':', s);
    std::string dir = path.substr(s, c == std::string::npos ? std::string::npos : c - s);
    if (dir.empty()) dir = ".";
    plan->candidates.push_back(dir + "/" + arg0);
    if (c == std::string::npos) break;
    s = c + 1;
  }
}

static Status PlanRlimits(const oci::Process& p, ProcessPlan* plan) {
  for (const oci::Rlimit& r : p.rlimits) {
    int res = oci::RlimitResource(r.type);
    if (res < 0) return Error(Code::kInvalidArgument, "process.rlimits: unknown type " + Quote(r.type));
    RlimitStep step;
    step.resource = res;
    step.limit.rlim_cur = r.soft;
    step.limit.rlim_max = r.hard;
    step.type = r.type;
    plan->rlimits.push_back(std::move(step));
  }
  return {};
}

Status BuildProcessPlan(const oci::Process& p, int root_dirfd, ProcessPlan* plan) {
  if (p.args.empty() || p.args[0].empty()) return Error(Code::kInvalidArgument, "process.args must not be empty");
  if (p.cwd.empty() || p.cwd[0] != '/') {
    return Error(Code::kInvalidArgument, "process.cwd " + Quote(p.cwd) + " must be an absolute path");
  }
  plan->args = p.args;
  plan->env = p.env;
  bool has_home = false;
  EnvValue(plan->env, "HOME", &has_home);
  if (!has_home) plan->env.push_back("HOME=" + HomeOf(root_dirfd, p.user.uid));

  PlanExecutableLookup(p, plan);

  plan->cwd = p.cwd;
  plan->cwd_rel = Relative(p.cwd);
  plan->cwd_what = "chdir to cwd " + Quote(p.cwd);
  plan->uid = p.user.uid;
  plan->gid = p.user.gid;
  plan->groups.assign(p.user.additional_gids.begin(), p.user.additional_gids.end());
  plan->umask = p.user.umask ? static_cast<mode_t>(*p.user.umask & 0777) : 022;
  RETURN_IF_ERROR(PlanRlimits(p, plan));
  if (p.oom_score_adj) {
    plan->set_oom = true;
    plan->oom_value = std::to_string(*p.oom_score_adj);
  }
  plan->no_new_privs = p.no_new_privileges;
  plan->terminal = p.terminal;
  if (p.console_size) {
    plan->set_winsize = true;
    plan->rows = static_cast<unsigned short>(p.console_size->height);
    plan->cols = static_cast<unsigned short>(p.console_size->width);
  }
  // The pointer arrays last: the strings no longer move.
  for (std::string& a : plan->args) plan->argv.push_back(a.data());
  plan->argv.push_back(nullptr);
  for (std::string& e : plan->env) plan->envp.push_back(e.data());
  plan->envp.push_back(nullptr);
  return {};
}

Status BuildLaunchPlan(const LaunchSpec& ls, LaunchPlan* plan) {
  const oci::Spec& spec = ls.spec;
  if (!spec.process) return Error(Code::kInvalidArgument, "the spec has no process");
  if (ls.rootfs.empty() || ls.rootfs[0] != '/') {
    return Error(Code::kInvalidArgument, "rootfs " + Quote(ls.rootfs) + " must be an absolute path");
  }
  struct stat st;
  if (stat(ls.rootfs.c_str(), &st) != 0) return ErrnoError("rootfs " + ls.rootfs);
  if (!S_ISDIR(st.st_mode)) return Error(Code::kInvalidArgument, "rootfs " + ls.rootfs + " is not a directory");
  plan->rootfs = ls.rootfs;
  plan->cgroup_dir = ls.cgroup_dir;
  while (plan->rootfs.size() > 1 && plan->rootfs.back() == '/') plan->rootfs.pop_back();

  {
    UniqueFd rootfd(open(plan->rootfs.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));  // -1: HOME is "/"
    RETURN_IF_ERROR(BuildProcessPlan(*spec.process, rootfd.get(), &plan->proc));
  }
  plan->proc.stdio[0] = ls.stdin_fd;
  plan->proc.stdio[1] = ls.stdout_fd;
  plan->proc.stdio[2] = ls.stderr_fd;

  for (size_t i = 0; i < spec.mounts.size(); ++i) {
    RETURN_IF_ERROR(AddMount(spec.mounts[i], i, plan));
    if (!plan->mounts.empty() && plan->mounts.back().dest_rel == "dev" && plan->mounts.back().bind &&
        plan->mounts.back().dest == spec.mounts[i].destination) {
      plan->default_devices = false;  // the caller provides /dev
    }
  }
  if (plan->default_devices) {
    for (const DefaultDevice& d : kDefaultDevices) {
      std::string path = std::string("/dev/") + d.name;
      AddDevice(path, S_IFCHR | 0666, makedev(d.major, d.minor), path, plan);
    }
  }
  if (spec.linux_config) {
    const oci::Linux& l = *spec.linux_config;
    for (const oci::Device& d : l.devices) RETURN_IF_ERROR(AddSpecDevice(d, plan));
    unsigned long prop = PropagationFlags(l.rootfs_propagation);
    if (prop != 0 && (prop & MS_PRIVATE) == 0) plan->final_propagation = prop;
    plan->masked_paths = l.masked_paths;
    plan->readonly_paths = l.readonly_paths;
    for (const auto& [key, value] : l.sysctl) {
      std::string path = "/proc/sys/" + key;
      for (size_t i = 10; i < path.size(); ++i) {
        if (path[i] == '.') path[i] = '/';
      }
      plan->sysctls.push_back({key, path, value});
    }
  }
  plan->no_pivot = ls.no_pivot;
  plan->readonly_root = spec.root.readonly;
  plan->set_hostname = !spec.hostname.empty();
  plan->hostname = spec.hostname;
  plan->set_domainname = !spec.domainname.empty();
  plan->domainname = spec.domainname;
  BuildStartHooks(spec, ls.id, ls.bundle, plan);
  return {};
}

}  // namespace kata::agent
