#include "sandbox/host_cgroup.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "common/log.h"
#include "common/mountinfo.h"
#include "common/strings.h"

namespace kata::sandbox {
namespace {

// One mounted cgroup hierarchy (from /proc/self/mountinfo).
struct Hierarchy {
  std::string mount;                  // /sys/fs/cgroup/memory
  std::string root;                   // the mount's root inside the hierarchy
  std::set<std::string> controllers;  // v1: cpu, memory, name=systemd...; v2: none
  bool v2 = false;
};

std::vector<Hierarchy> MountedHierarchies() {
  std::vector<Hierarchy> out;
  auto text = fs::ReadFile("/proc/self/mountinfo");
  if (!text.ok()) return out;
  for (const MountInfo& m : ParseMountInfo(*text)) {
    if (m.fstype != "cgroup" && m.fstype != "cgroup2") continue;
    Hierarchy h{m.mount_point, m.root, {}, m.fstype == "cgroup2"};
    if (!h.v2) {
      for (const std::string& opt : Split(m.super_options, ',')) {
        if (opt != "rw" && opt != "ro" && opt != "clone_children" && opt != "noprefix" && opt.rfind("release_agent=", 0) != 0 &&
            opt != "xattr" && opt != "cpuset_v2_mode") {
          h.controllers.insert(opt);
        }
      }
    }
    // The same hierarchy mounted twice: the first mount is enough.
    bool seen = std::any_of(out.begin(), out.end(), [&](const Hierarchy& o) { return o.v2 == h.v2 && o.controllers == h.controllers; });
    if (!seen) out.push_back(h);
  }
  return out;
}

// One line of /proc/PID/cgroup: "N:controllers:path".
struct Membership {
  std::set<std::string> controllers;  // v1: cpu, memory, name=systemd...; v2: none
  std::string path;
};

std::vector<Membership> MembershipsOf(const std::string& pid) {
  std::vector<Membership> out;
  auto text = fs::ReadFile("/proc/" + pid + "/cgroup");
  if (!text.ok()) return out;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::vector<std::string> list = Split(line.substr(a + 1, b - a - 1), ',');
    out.push_back({std::set<std::string>(list.begin(), list.end()), line.substr(b + 1)});
  }
  return out;
}

// This process's path in the hierarchy, or "".
std::string OwnPathIn(const Hierarchy& h, const std::vector<Membership>& own) {
  for (const Membership& m : own) {
    if (h.v2 ? !m.controllers.empty() : m.controllers != h.controllers) continue;
    std::string path = m.path;
    // Inside a cgroup namespace or a bind of a sub-tree: relative to the mount's root.
    if (h.root != "/" && path.rfind(h.root, 0) == 0) path = path.substr(h.root.size());
    return path.empty() ? "/" : path;
  }
  return "";
}

// A new v1 cpuset group starts with no CPUs and no memory nodes, and takes
// no process until given some: its parent's.
void InheritCpuset(const std::string& dir) {
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    std::string path = fs::JoinPath(dir, file);
    auto mine = fs::ReadFile(path);
    if (!mine.ok() || !Trim(*mine).empty()) continue;
    auto parents = fs::ReadFile(fs::JoinPath(fs::Dirname(dir), file));
    if (parents.ok()) (void)fs::WriteExisting(path, Trim(*parents));
  }
}

// cgroup v2 hands a controller to children only when the parent lists it
// in cgroup.subtree_control.
void DelegateControllers(const std::string& parent) {
  auto available = fs::ReadFile(fs::JoinPath(parent, "cgroup.controllers"));
  if (!available.ok()) return;
  for (const std::string& c : Split(Trim(*available), ' ')) {
    if (c == "cpu" || c == "memory" || c == "pids" || c == "io" || c == "cpuset") {
      (void)fs::WriteExisting(fs::JoinPath(parent, "cgroup.subtree_control"), "+" + c);
    }
  }
}

// mkdir -p, below `base` (which exists); the directories it made, top first.
Result<std::vector<std::string>> MakeBelow(const std::string& base, const std::string& rel, bool v2) {
  std::vector<std::string> made;
  std::string dir = base;
  for (const std::string& part : Split(rel, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") return Error(Code::kInvalidArgument, "cgroupsPath " + rel + " leaves the cgroup tree (..)");
    if (v2) DelegateControllers(dir);
    dir = fs::JoinPath(dir, part);
    if (mkdir(dir.c_str(), 0755) == 0) {
      made.push_back(dir);
      InheritCpuset(dir);
    } else if (errno != EEXIST) {
      Status st = ErrnoError("create cgroup " + dir);
      for (auto it = made.rbegin(); it != made.rend(); ++it) rmdir(it->c_str());
      return st;
    }
  }
  return made;
}

std::string ExpandSlice(const std::string& slice) {
  if (slice == "-" ) return "";
  std::string name = slice.substr(0, slice.size() - std::string(".slice").size()), path, prefix;
  for (const std::string& part : Split(name, '-')) {
    prefix += (prefix.empty() ? "" : "-") + part;
    path += "/" + prefix + ".slice";
  }
  return path;
}

// Writes `value` into the first of `files` present in each directory; a
// directory with none of them (the host lacks the controller there) is skipped.
Status WriteKnob(const std::vector<std::string>& dirs, std::initializer_list<const char*> files, const std::string& value) {
  for (const std::string& dir : dirs) {
    for (const char* file : files) {
      std::string path = fs::JoinPath(dir, file);
      if (!fs::Exists(path)) continue;
      Status st = fs::WriteExisting(path, value);
      if (!st.ok()) return Error(st.code(), "set " + path + " to " + value + ": " + st.message());
      break;
    }
  }
  return Status::Ok();
}

// Writes the throttles: v1 one file per kind ("maj:min rate", 0 lifts the
// rule), v2 io.max ("maj:min rbps=.. wbps=.. riops=.. wiops=..", max lifts).
Status ApplyThrottles(const std::vector<std::string>& dirs, const HostLimits& l, const HostLimits& before) {
  std::map<std::string, std::array<uint64_t, 4>> all = l.throttles;
  for (const auto& [dev, rates] : before.throttles) all.try_emplace(dev, std::array<uint64_t, 4>{});
  const char* v1[] = {"blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device",
                      "blkio.throttle.write_iops_device"};
  const char* v2[] = {"rbps", "wbps", "riops", "wiops"};
  for (const auto& [dev, rates] : all) {
    std::string io_max = dev;
    for (size_t k = 0; k < 4; k++) {
      RETURN_IF_ERROR(WriteKnob(dirs, {v1[k]}, dev + " " + std::to_string(rates[k])));
      io_max += std::string(" ") + v2[k] + "=" + (rates[k] ? std::to_string(rates[k]) : "max");
    }
    RETURN_IF_ERROR(WriteKnob(dirs, {"io.max"}, io_max));
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> CgroupfsPath(const std::string& cgroups_path) {
  if (cgroups_path.empty() || cgroups_path[0] == '/' || cgroups_path.find(':') == std::string::npos) return cgroups_path;
  std::vector<std::string> parts = Split(cgroups_path, ':');
  if (parts.size() != 3) {
    return Error(Code::kInvalidArgument, "cgroupsPath \"" + cgroups_path +
                                             "\" is neither a path nor systemd's slice:prefix:name");
  }
  std::string slice = parts[0].empty() ? "system.slice" : parts[0];
  if (slice != "-" && (slice.size() <= 6 || slice.compare(slice.size() - 6, 6, ".slice") != 0 || slice.find('/') != std::string::npos)) {
    return Error(Code::kInvalidArgument, "cgroupsPath \"" + cgroups_path + "\": systemd slice \"" + slice +
                                             "\" must end in .slice and hold no /");
  }
  const std::string& name = parts[2];
  bool is_slice = name.size() > 6 && name.compare(name.size() - 6, 6, ".slice") == 0;
  std::string unit = is_slice ? name : (parts[1].empty() ? name : parts[1] + "-" + name) + ".scope";
  return ExpandSlice(slice) + "/" + unit;
}

Result<HostCgroup> HostCgroup::Create(const std::string& cgroups_path) {
  ASSIGN_OR_RETURN(std::string rel, CgroupfsPath(cgroups_path));
  HostCgroup cg;
  std::vector<std::string> made;
  auto undo = [&made] {
    for (auto it = made.rbegin(); it != made.rend(); ++it) rmdir(it->c_str());
  };
  std::vector<Membership> memberships = MembershipsOf("self");
  for (const Hierarchy& h : MountedHierarchies()) {
    std::string base = h.mount;
    if (rel.empty() || rel[0] != '/') {
      std::string own = OwnPathIn(h, memberships);
      if (own.empty()) continue;  // not a hierarchy this process is in
      base = fs::JoinPath(h.mount, own);
    }
    auto dirs = MakeBelow(base, rel, h.v2);
    if (!dirs.ok()) {
      undo();
      return dirs.status();
    }
    made.insert(made.end(), dirs->begin(), dirs->end());
    cg.dirs_.push_back(fs::JoinPath(base, rel));
  }
  // e.g. under `ip netns exec`, whose fresh /sys has no cgroup mounts.
  if (cg.dirs_.empty()) return Error(Code::kUnavailable, "no cgroup hierarchy is mounted in this mount namespace");
  return cg;
}

HostCgroup HostCgroup::FromDirs(std::vector<std::string> dirs) {
  HostCgroup cg;
  cg.dirs_ = std::move(dirs);
  return cg;
}

Status HostCgroup::Apply(const HostLimits& l, const HostLimits& before) const {
  struct Knob {
    const char* what;
    std::initializer_list<const char*> files;
    std::string value;
    bool wanted;
  };
  std::string quota = l.cpu_quota ? std::to_string(*l.cpu_quota) : "";
  std::string period = std::to_string(l.cpu_period);
  uint64_t shares = l.cpu_shares.value_or(1024);
  // runc's conversions: shares [2, 262144] -> weight [1, 10000]; blkio
  // weight [10, 1000] -> io.weight [1, 10000].
  uint64_t cpu_weight = 1 + ((std::clamp<uint64_t>(shares, 2, 262144) - 2) * 9999) / 262142;
  unsigned io_weight = l.blkio_weight ? 1 + (std::clamp<unsigned>(*l.blkio_weight, 10, 1000) - 10) * 9999 / 990 : 0;
  const Knob knobs[] = {
      {"CPU period", {"cpu.cfs_period_us"}, period, true},
      {"CPU quota", {"cpu.cfs_quota_us"}, l.cpu_quota ? quota : "-1", true},
      {"CPU quota", {"cpu.max"}, (l.cpu_quota ? quota : "max") + " " + period, true},
      {"CPU shares", {"cpu.shares"}, std::to_string(shares), l.cpu_shares.has_value()},
      {"CPU weight", {"cpu.weight"}, std::to_string(cpu_weight), l.cpu_shares.has_value()},
      {"memory", {"memory.limit_in_bytes"}, l.memory_bytes ? std::to_string(*l.memory_bytes) : "-1", true},
      {"memory", {"memory.max"}, l.memory_bytes ? std::to_string(*l.memory_bytes) : "max", true},
      {"pids", {"pids.max"}, l.pids ? std::to_string(*l.pids) : "max", true},
      {"cpuset", {"cpuset.cpus"}, l.cpuset_cpus, !l.cpuset_cpus.empty()},
      {"blkio weight", {"blkio.weight", "blkio.bfq.weight"}, std::to_string(l.blkio_weight.value_or(0)), l.blkio_weight.has_value()},
      {"io weight", {"io.weight", "io.bfq.weight"}, "default " + std::to_string(io_weight), l.blkio_weight.has_value()},
  };
  for (const Knob& k : knobs) {
    if (!k.wanted) continue;
    RETURN_IF_ERROR(WriteKnob(dirs_, k.files, k.value));
  }
  return ApplyThrottles(dirs_, l, before);
}

Status HostCgroup::Join(pid_t pid) {
  if (pid == getpid() && own_dirs_.empty()) own_dirs_ = CgroupDirsOf("self");
  for (const std::string& dir : dirs_) {
    Status st = fs::WriteExisting(fs::JoinPath(dir, "cgroup.procs"), std::to_string(pid));
    if (!st.ok()) return Error(st.code(), "move pid " + std::to_string(pid) + " into cgroup " + dir + ": " + st.message());
  }
  return Status::Ok();
}

void HostCgroup::Leave() const {
  for (const std::string& dir : own_dirs_) {
    Status st = fs::WriteExisting(fs::JoinPath(dir, "cgroup.procs"), std::to_string(getpid()));
    if (!st.ok()) log::Warn("leave the sandbox cgroup for " + dir + ": " + st.message());
  }
}

Status HostCgroup::Remove() const {
  Status first;
  // A VMM that was just killed leaves its cgroup when it has exited: give it time.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (const std::string& dir : dirs_) {
    while (rmdir(dir.c_str()) != 0 && errno != ENOENT) {
      if (errno == EBUSY && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      int err = errno;
      auto procs = fs::ReadFile(fs::JoinPath(dir, "cgroup.procs"));
      std::string who = procs.ok() && !Trim(*procs).empty() ? " (still holds pids " + Trim(*procs) + ")" : "";
      errno = err;
      if (first.ok()) first = ErrnoError("remove cgroup " + dir + who);
      break;
    }
  }
  return first;
}

Status HostCgroup::Record(const std::string& file) const {
  std::string text;
  for (const std::string& dir : dirs_) text += dir + "\n";
  return fs::WriteFileAtomic(file, text, 0600);
}

Result<HostCgroup> HostCgroup::Recorded(const std::string& file) {
  ASSIGN_OR_RETURN(std::string text, fs::ReadFile(file));
  std::vector<std::string> dirs;
  for (const std::string& line : Split(text, '\n')) {
    // Only what a cgroup directory can be: never rmdir elsewhere on a damaged record.
    bool climbs = line.find("/../") != std::string::npos || line.size() < 3 || line.compare(line.size() - 3, 3, "/..") == 0;
    if (line.rfind("/sys/fs/cgroup/", 0) == 0 && !climbs) dirs.push_back(line);
  }
  return FromDirs(std::move(dirs));
}

std::vector<std::string> CgroupDirsOf(const std::string& pid) {
  std::vector<std::string> dirs;
  for (const Membership& m : MembershipsOf(pid)) {
    std::string controllers;
    for (const std::string& c : m.controllers) controllers += (controllers.empty() ? "" : ",") + c.substr(c.rfind("name=", 0) == 0 ? 5 : 0);
    std::vector<std::string> candidates = controllers.empty()
                                              ? std::vector<std::string>{"/sys/fs/cgroup/unified" + m.path, "/sys/fs/cgroup" + m.path}
                                              : std::vector<std::string>{"/sys/fs/cgroup/" + controllers + m.path};
    for (const std::string& dir : candidates) {
      if (fs::Exists(dir + "/cgroup.procs")) {
        dirs.push_back(dir);
        break;
      }
    }
  }
  return dirs;
}

void MoveToCgroupsOf(const std::string& of, pid_t pid, const std::string& what) {
  // Moving a process costs ~1.5 ms per hierarchy under load: only where it differs.
  std::vector<std::string> theirs = CgroupDirsOf(std::to_string(pid));
  for (const std::string& dir : CgroupDirsOf(of)) {
    if (std::find(theirs.begin(), theirs.end(), dir) != theirs.end()) continue;
    Status st = fs::WriteExisting(dir + "/cgroup.procs", std::to_string(pid));
    if (!st.ok()) log::Warn(what + " stays out of cgroup " + dir + ": " + st.message());
  }
}

}  // namespace kata::sandbox
