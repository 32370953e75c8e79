#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace kata::itest {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

CmdResult Run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              const std::string& input) {
  char out_tmpl[] = "/tmp/itest-out.XXXXXX";
  char err_tmpl[] = "/tmp/itest-err.XXXXXX";
  int out_fd = mkstemp(out_tmpl);
  int err_fd = mkstemp(err_tmpl);
  int in_pipe[2];
  if (pipe(in_pipe) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    close(in_pipe[1]);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(in_pipe[0]);
  if (!input.empty()) {
    ssize_t unused = write(in_pipe[1], input.data(), input.size());
    (void)unused;
  }
  close(in_pipe[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  CmdResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  // Files, not pipes: a daemon that keeps our stdout must not hang the test.
  r.out = Slurp(out_tmpl);
  r.err = Slurp(err_tmpl);
  close(out_fd);
  close(err_fd);
  unlink(out_tmpl);
  unlink(err_tmpl);
  return r;
}

CmdResult Sh(const std::string& script, const std::map<std::string, std::string>& env) {
  return Run({"/bin/sh", "-c", script}, env);
}

std::string Runtime() {
  const char* r = getenv("KATA_RUNTIME");
  return r ? r : "/usr/local/bin/kata-runtime";
}

std::string RepoDir() { return KATA_SOURCE_DIR; }

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \n\r\t");
  size_t e = s.find_last_not_of(" \n\r\t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string GuestKernelRelease() { return Trim(Slurp("/usr/share/kata-containers/guest-kernel-release")); }

TempDir::TempDir() {
  char tmpl[] = "/tmp/kata-itest.XXXXXX";
  path_ = mkdtemp(tmpl);
}

TempDir::~TempDir() { Run({"rm", "-rf", path_}); }

void MakeBundle(const std::string& dir, const std::vector<std::string>& args, bool tty) {
  std::vector<std::string> argv = {RepoDir() + "/scripts/make-bundle.sh", dir};
  if (tty) argv.push_back("--tty");
  argv.push_back("--");
  argv.insert(argv.end(), args.begin(), args.end());
  CmdResult r = Run(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

std::string Leaks(const std::string& id) {
  std::string leaks;
  CmdResult q = Sh("pgrep -a -f '[q]emu-system.*sandbox-" + id + "( |$)' || true");
  if (!Trim(q.out).empty()) leaks += "QEMU still running: " + Trim(q.out) + "\n";
  CmdResult v = Sh("pgrep -a -f '[v]irtiofsd .*/sandboxes/" + id + "/' || true");
  if (!Trim(v.out).empty()) leaks += "virtiofsd still running: " + Trim(v.out) + "\n";
  CmdResult m = Sh("grep -F -- '" + id + "' /proc/mounts || true");
  if (!Trim(m.out).empty()) leaks += "mounts left: " + Trim(m.out) + "\n";
  for (const std::string& dir : {"/run/kata-containers/runtime/" + id, "/run/vc/vm/" + id,
                                 "/run/kata-containers/shared/sandboxes/" + id}) {
    if (access(dir.c_str(), F_OK) == 0) leaks += "directory left: " + dir + "\n";
  }
  CmdResult s = Sh("pgrep -a -f '[c]ontainerd-shim-kata-v2 .*-id " + id + " ' || true");
  if (!Trim(s.out).empty()) leaks += "sandbox service still running: " + Trim(s.out) + "\n";
  // The sandbox's host cgroup (named after the container by every caller).
  CmdResult cg = Sh("find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -type d -name '*" + id + "*' 2>/dev/null || true");
  if (!Trim(cg.out).empty()) leaks += "cgroup left: " + Trim(cg.out) + "\n";
  return leaks;
}

std::string LeaksAfter(const std::string& id, int seconds) {
  std::string l;
  WaitUntil([&] { return (l = Leaks(id)).empty(); }, std::chrono::seconds(seconds));
  return l;
}

namespace {

std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  closedir(d);
  return out;
}

// "maj:min:ino" as /proc/locks prints a lock's file (hex device numbers).
std::string LockKey(dev_t dev, ino_t ino) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%lu", major(dev), minor(dev), static_cast<unsigned long>(ino));
  return buf;
}

void CollectLockKeys(const std::string& path, int depth, std::set<std::string>* keys) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return;
  keys->insert(LockKey(st.st_dev, st.st_ino));
  if (!S_ISDIR(st.st_mode) || depth == 0) return;
  for (const std::string& name : DirEntries(path)) CollectLockKeys(path + "/" + name, depth - 1, keys);
}

// Which of ours a process is: "qemu", "service", "runtime" or "". By its
// executable; a zombie has none left, so by its (15-character) name then.
std::string KindOf(const std::string& pid, bool* zombie) {
  std::string stat = Slurp("/proc/" + pid + "/stat");
  size_t open = stat.find('('), close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return "";
  *zombie = close + 2 < stat.size() && (stat[close + 2] == 'Z' || stat[close + 2] == 'X');
  char buf[PATH_MAX];
  ssize_t n = readlink(("/proc/" + pid + "/exe").c_str(), buf, sizeof buf - 1);
  std::string name;
  if (n > 0) {
    std::string exe(buf, static_cast<size_t>(n));
    name = exe.substr(exe.rfind('/') + 1);
    if (name.size() > 10 && name.compare(name.size() - 10, 10, " (deleted)") == 0) name.resize(name.size() - 10);
  } else {
    name = stat.substr(open + 1, close - open - 1);
    if (name == "containerd-shim") name = "containerd-shim-kata-v2";  // a zombie shim: cut to 15 characters
  }
  if (name.rfind("qemu-system", 0) == 0) return "qemu";
  if (name == "virtiofsd") return "virtiofsd";
  if (name == "containerd-shim-kata-v2") return "service";
  if (name == "kata-runtime") return "runtime";
  return "";
}

int CountLines(const std::string& text, const std::string& needle) {
  int n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) n++;
  }
  return n;
}

}  // namespace

HostSnapshot TakeHostSnapshot(const std::string& netns) {
  HostSnapshot s;
  std::set<std::string> ours;  // pids of our processes
  for (const std::string& pid : DirEntries("/proc")) {
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    bool zombie = false;
    std::string kind = KindOf(pid, &zombie);
    if (kind.empty()) continue;
    ours.insert(pid);
    if (zombie) s.zombies++;
    (kind == "qemu" ? s.qemu : kind == "virtiofsd" ? s.virtiofsd : kind == "service" ? s.services : s.runtimes)++;
  }
  std::istringstream mounts(Slurp("/proc/self/mounts"));
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream f(line);
    std::string source, target;
    f >> source >> target;
    if (target.find("/run/kata-containers") != std::string::npos || target.find("/run/vc/") != std::string::npos ||
        target.find("kata") != std::string::npos) {
      s.mounts++;
    }
  }
  std::vector<std::string> namespaces = {""};
  if (!netns.empty()) namespaces.push_back(netns);
  for (const std::string& ns : namespaces) {
    std::string in = ns.empty() ? "" : " -n " + ns;
    s.taps += std::stoi("0" + Trim(Sh("ip" + in + " -o link show | awk -F': ' '{print $2}' | grep -c '^tap' || true").out));
    s.ingress += CountLines(Sh("tc" + in + " qdisc show").out, "qdisc ingress");
  }
  for (const char* dir : {"/run/vc/vm", "/run/kata-containers", "/run/kata-containers/runtime",
                                 "/run/kata-containers/s", "/run/kata-containers/shared/sandboxes",
                                 "/run/kata-containers/vmcache"}) {
    for (const std::string& name : DirEntries(dir)) s.entries.insert(std::string(dir) + "/" + name);
  }
  std::set<std::string> keys;
  CollectLockKeys("/run/vc", 4, &keys);
  CollectLockKeys("/run/kata-containers", 5, &keys);
  std::istringstream locks(Slurp("/proc/locks"));
  for (std::string line; std::getline(locks, line);) {
    std::istringstream f(line);
    std::vector<std::string> tok;
    for (std::string t; f >> t;) {
      if (t != "->") tok.push_back(t);
    }
    if (tok.size() < 6) continue;
    if (ours.count(tok[4]) || keys.count(tok[5])) s.locks++;
  }
  s.fds = static_cast<int>(DirEntries("/proc/self/fd").size()) - 1;  // less the one DirEntries had open
  return s;
}

std::string Describe(const HostSnapshot& s) {
  return "qemu " + std::to_string(s.qemu) + ", virtiofsd " + std::to_string(s.virtiofsd) + ", services " + std::to_string(s.services) + ", kata-runtime " +
         std::to_string(s.runtimes) + ", mounts " + std::to_string(s.mounts) + ", taps " + std::to_string(s.taps) +
         ", ingress qdiscs " + std::to_string(s.ingress) + ", dir entries " + std::to_string(s.entries.size()) +
         ", locks " + std::to_string(s.locks) + ", fds " + std::to_string(s.fds) +
         (s.zombies ? " (" + std::to_string(s.zombies) + " of the processes zombies)" : "");
}

std::string SnapshotDiff(const HostSnapshot& base, const HostSnapshot& now) {
  std::string d;
  auto cmp = [&d](const char* what, int a, int b) {
    if (a != b) d += std::string(what) + " " + std::to_string(a) + " -> " + std::to_string(b) + "; ";
  };
  cmp("qemu", base.qemu, now.qemu);
  cmp("virtiofsd", base.virtiofsd, now.virtiofsd);
  cmp("services", base.services, now.services);
  cmp("kata-runtime", base.runtimes, now.runtimes);
  cmp("mounts", base.mounts, now.mounts);
  cmp("taps", base.taps, now.taps);
  cmp("ingress qdiscs", base.ingress, now.ingress);
  cmp("locks", base.locks, now.locks);
  cmp("fds", base.fds, now.fds);
  for (const std::string& e : now.entries) {
    if (!base.entries.count(e)) d += "left: " + e + "; ";
  }
  for (const std::string& e : base.entries) {
    if (!now.entries.count(e)) d += "gone: " + e + "; ";
  }
  return d;
}

HostSnapshot SnapshotSettled(const HostSnapshot& base, int seconds, const std::string& netns) {
  HostSnapshot now;
  WaitUntil([&] { return SnapshotDiff(base, now = TakeHostSnapshot(netns)).empty(); }, std::chrono::seconds(seconds),
            200ms);
  return now;
}

HostSnapshot QuietHostSnapshot(const std::string& netns, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  HostSnapshot prev = TakeHostSnapshot(netns);
  for (;;) {
    // Not a wait for an event: "quiet" is two snapshots 200 ms apart that agree.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    HostSnapshot now = TakeHostSnapshot(netns);
    if ((now.zombies == 0 && SnapshotDiff(prev, now).empty()) || std::chrono::steady_clock::now() > deadline) return now;
    prev = now;
  }
}

std::string UniqueId(const std::string& base) {
  static int n = 0;
  return "it-" + base + "-" + std::to_string(getpid()) + "-" + std::to_string(++n);
}

std::string HttpGet(const std::string& url, int seconds) {
  for (int i = 0; i < seconds * 2; i++) {
    CmdResult r = Run({"curl", "-sf", "-m", "2", url});
    if (r.exit_code == 0) return Trim(r.out);
    // A wait for the answer bounded by tries, not WaitUntil's time: a try
    // that hangs takes curl's 2 s and still counts as one.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return "";
}

std::string ServeHttpCommand(const std::string& body_cmd, int port) {
  return "mkdir -p /www && " + body_cmd + " > /www/index.html && exec httpd -f -p " + std::to_string(port) + " -h /www";
}

PodNetns::PodNetns(const std::string& name) : name_(name), peer_(name + "-peer") {
  Sh("ip netns del " + name_ + " 2>/dev/null; ip netns del " + peer_ + " 2>/dev/null");
  ok_ = Sh("ip netns add " + name_ + " && ip netns add " + peer_ + " && ip -n " + name_ + " link set lo up && ip -n " +
           name_ + " link add eth0 type veth peer name peer0 netns " + peer_ + " && ip -n " + name_ +
           " link set eth0 up && ip -n " + peer_ + " link set peer0 up && ip -n " + name_ +
           " addr add 10.126.0.2/24 dev eth0")
            .exit_code == 0;
}

PodNetns::~PodNetns() { Sh("ip netns del " + name_ + "; ip netns del " + peer_); }

int PodNetns::Count(const std::string& cmd) { return std::stoi("0" + Trim(Sh(cmd + " || true").out)); }
int PodNetns::Ingress() { return Count("tc -n " + name_ + " qdisc show | grep -c 'qdisc ingress'"); }
int PodNetns::EthIngress() { return Count("tc -n " + name_ + " qdisc show dev eth0 | grep -c 'qdisc ingress'"); }
int PodNetns::Taps() { return Count("ip -n " + name_ + " -o link show | awk -F': ' '{print $2}' | grep -c '^tap'"); }

}  // namespace kata::itest
