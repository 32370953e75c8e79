// Helpers for integration tests that drive the installed binaries against
// real VMs: run a command, make a busybox bundle, check for leaks.
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace kata::itest {

using namespace std::chrono_literals;

// Waits for something to happen: calls `done` at once, then every `poll`,
// until it returns true (-> true) or `timeout` has passed (-> false; it is
// called once more after the deadline). How a test waits for a condition; a
// plain sleep stays only with a comment saying why (time that must pass, a
// check that nothing happens, retries counted rather than timed).
template <typename Pred>
bool WaitUntil(Pred&& done, std::chrono::milliseconds timeout, std::chrono::milliseconds poll = 100ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

struct CmdResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv (no shell) with extra environment, feeding `input` on stdin.
CmdResult Run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
              const std::string& input = "");
// Runs through /bin/sh -c.
CmdResult Sh(const std::string& script, const std::map<std::string, std::string>& env = {});

std::string Runtime();  // kata-runtime under test ($KATA_RUNTIME or /usr/local/bin/kata-runtime)
std::string RepoDir();  // source checkout (for scripts/)
std::string GuestKernelRelease();
std::string Trim(const std::string& s);

// A temporary directory removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// scripts/make-bundle.sh DIR -- args...
void MakeBundle(const std::string& dir, const std::vector<std::string>& args, bool tty = false);

// Everything a sandbox could leave on the host, for a given container id:
// a QEMU process, a mount, a state or VM directory. Empty when clean.
std::string Leaks(const std::string& id);
// Polls Leaks(id) for up to `seconds` (teardown is asynchronous after kill).
std::string LeaksAfter(const std::string& id, int seconds);

// What sandboxes can leave on the host, counted host-wide (not per id), for
// fault-injection tests that compare before and after: processes (zombies
// included: an unreaped QEMU counts), mounts, the pod network's taps and
// ingress qdiscs, the runtime's directory entries, flocks and this
// process's own fds.
struct HostSnapshot {
  int qemu = 0;       // qemu-system-* processes
  int virtiofsd = 0;  // virtiofsd processes (four per virtio-fs sandbox: two exports)
  int services = 0;   // containerd-shim-kata-v2 processes (sandbox services)
  int runtimes = 0;   // kata-runtime processes (monitors and CLI calls)
  int mounts = 0;     // host mounts under /run/kata-containers, /run/vc or naming "kata"
  int taps = 0;       // tap* links, in the host's namespace and in `netns`
  int ingress = 0;    // ingress qdiscs, likewise
  int locks = 0;      // /proc/locks entries held by the processes above or on files under the runtime's dirs
  int fds = 0;        // this process's open fds
  int zombies = 0;    // of the processes above, those exited but not yet reaped
  // Every entry of /run/vc/vm, /run/kata-containers and its runtime, s,
  // shared/sandboxes and vmcache directories (full paths).
  std::set<std::string> entries;
};
// `netns`: a named network namespace (ip netns) whose taps and qdiscs count too.
HostSnapshot TakeHostSnapshot(const std::string& netns = "");
// "qemu 0, services 0, ..." (entries as a count).
std::string Describe(const HostSnapshot& s);
// What differs from `base` ("" when nothing), naming the entries that came or went.
std::string SnapshotDiff(const HostSnapshot& base, const HostSnapshot& now);
// Polls until the snapshot equals `base` or `seconds` pass (teardown is
// asynchronous: a QEMU killed without waiting is reaped a moment later).
HostSnapshot SnapshotSettled(const HostSnapshot& base, int seconds, const std::string& netns = "");
// A baseline: polls (up to `seconds`) until no process of ours is a zombie
// and two snapshots in a row agree. What an earlier test's processes left
// to be reaped by init (which takes a second or two) is not counted then.
HostSnapshot QuietHostSnapshot(const std::string& netns = "", int seconds = 10);

// GET url with curl, retried for up to `seconds` until it answers; the body
// (trimmed), or "" if it never did.
std::string HttpGet(const std::string& url, int seconds);
// A shell command that serves `body` over HTTP on `port` from inside a
// busybox container (httpd in the foreground, as PID 1).
std::string ServeHttpCommand(const std::string& body_cmd, int port);

// A unique container id for a test.
std::string UniqueId(const std::string& base);

// The pod's network namespace as CNI leaves one: a veth "eth0" with an
// address, its peer in another namespace (standing in for the host's
// bridge side). Made for the suite, removed after it.
class PodNetns {
 public:
  explicit PodNetns(const std::string& name);
  ~PodNetns();
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  std::string path() const { return "/run/netns/" + name_; }
  // Ingress qdiscs: the one the runtime adds to eth0 and the tap's own.
  int Ingress();
  int EthIngress();
  int Taps();

 private:
  static int Count(const std::string& cmd);
  std::string name_, peer_;
  bool ok_ = false;
};

}  // namespace kata::itest
