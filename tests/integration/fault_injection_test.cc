// Fault injection against real VMs: kill -9 of QEMU, of the sandbox service
// and of the container's monitor during and after each step of
// create/start/exec/delete (a kata-runtime container per case); an agent
// that stops answering (QEMU frozen); 100 container create/exec/delete
// cycles in one containerd pod. After each: no process, mount, fd, tap,
// ingress qdisc, lock or directory entry more than before (HostSnapshot,
// host-wide, plus the pod's network namespace), `state` answers at once with
// a clear status, and start/exec/delete agree with it. Every case prints
// its counts ("[fault] ..."). ~2.5 minutes under TCG.
//
// kill -9 of the virtiofsd that serves a running container's files
// (virtio-fs, the default share) is its own case. Not covered here, by
// design of this runtime:
//  - a QEMU that outlives its killed service: a booted VM dies with its
//    service (PR_SET_PDEATHSIG); only a VM from the VM cache outlives it, and
//    vm_cache_test's KilledSandboxServiceIsCleanedUpByDelete covers that.
//
// The sandboxes run in a pod network namespace made for the test (a veth
// "eth0"), so that the tap and the ingress qdiscs the runtime adds there are
// part of what must go away. $KATA_FAULT_CYCLES sets the number of cycles.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "containerd_env.h"
#include "harness.h"

namespace kata::itest {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// 'R', 'S', 'T' (stopped), 'Z' (zombie)...; 0 when there is no such process.
char ProcState(pid_t pid) {
  std::string stat = Slurp("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? 0 : stat[paren + 2];
}
bool Alive(pid_t pid) {
  char s = ProcState(pid);
  return s != 0 && s != 'Z' && s != 'X';
}
std::chrono::milliseconds Ms(double seconds) { return std::chrono::milliseconds(static_cast<long>(seconds * 1000)); }

// Until `pid` has exited (gone or a zombie); false after `seconds`.
bool WaitGone(pid_t pid, double seconds) {
  return WaitUntil([&] { return !Alive(pid); }, Ms(seconds), 20ms);
}

std::string ExeOf(pid_t pid) {
  char buf[4096];
  ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

int CountEntries(const std::string& dir) {
  return std::stoi("0" + Trim(Sh("ls -A " + dir + " 2>/dev/null | wc -l").out));
}
int CountLinesOf(const std::string& path) {
  std::istringstream in(Slurp(path));
  int n = 0;
  for (std::string line; std::getline(in, line);) n++;
  return n;
}
// A field of /proc/<pid>/status as a number (VmRSS in kB, Threads).
long StatusField(pid_t pid, const std::string& key) {
  std::istringstream in(Slurp("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  }
  return -1;
}

// A command running in the background while a fault strikes; its stdout
// and stderr go to a file.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::string& out_path) : out_(out_path) {
    pid_ = fork();
    if (pid_ == 0) {
      int null = open("/dev/null", O_RDONLY);
      int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(null, 0);
      dup2(out, 1);
      dup2(out, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0 && !done_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // True once it has exited (reaped here, its exit time noted).
  bool Poll() {
    if (done_) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    done_ = true;
    ended_ = Clock::now();
    code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return true;
  }
  // Its exit code (128+signal if killed), or -1 if it did not end within
  // `seconds` (it is killed then).
  int Wait(double seconds) {
    if (WaitUntil([&] { return Poll(); }, Ms(seconds), 20ms)) return code_;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    done_ = true;
    ended_ = Clock::now();
    code_ = -1;
    return code_;
  }
  Clock::time_point ended() const { return ended_; }
  std::string Output() const { return Slurp(out_); }

 private:
  std::string out_;
  pid_t pid_ = -1;
  bool done_ = false;
  int code_ = -1;
  Clock::time_point ended_;
};

// kata-runtime, each call bounded so that a hang is a failure, not a stuck suite.
CmdResult Kata(const std::vector<std::string>& args, int timeout_s = 60) {
  std::vector<std::string> argv = {"timeout", "-k", "5", std::to_string(timeout_s), Runtime()};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv);
}

// `state` once: its status ("" when it failed) and how long it took.
struct StateAnswer {
  int exit_code = -1;
  std::string status;
  double seconds = 0;
  std::string err;
};
StateAnswer StateOf(const std::string& id) {
  auto t0 = Clock::now();
  CmdResult r = Kata({"state", id}, 15);
  StateAnswer a;
  a.seconds = SecondsSince(t0);
  a.exit_code = r.exit_code;
  a.err = r.err;
  if (r.exit_code == 0) {
    try {
      a.status = nlohmann::json::parse(r.out).value("status", "");
    } catch (const nlohmann::json::exception&) {
      a.status = "unparsable: " + r.out;
    }
  }
  return a;
}

// `state` of `id` every `poll` until it says "stopped" (or fails) or `timeout`
// has passed. Every answer must come at once (exit 0) with one of `allowed`;
// `each` runs after each call. The last answer, the calls, the slowest.
struct StatePolls {
  StateAnswer last;
  int calls = 0;
  double slowest = 0;
};
StatePolls PollStateUntilStopped(const std::string& id, const std::set<std::string>& allowed,
                                 std::chrono::milliseconds timeout, std::chrono::milliseconds poll,
                                 const std::function<void()>& each = nullptr) {
  StatePolls p;
  WaitUntil(
      [&] {
        StateAnswer& a = p.last;
        a = StateOf(id);
        p.calls++;
        p.slowest = std::max(p.slowest, a.seconds);
        EXPECT_EQ(a.exit_code, 0) << a.err;
        EXPECT_TRUE(allowed.count(a.status)) << a.status;
        if (each) each();
        return a.status == "stopped" || a.exit_code != 0;
      },
      timeout, poll);
  return p;
}

// The host processes of a kata-runtime container, from what the runtime
// recorded: the monitor (--pid-file and state.json), the sandbox service
// (state.json) and QEMU (the VM directory's vmm.identity), each checked
// against the process it names.
struct Pids {
  pid_t monitor = 0, service = 0, qemu = 0;
};
Pids PidsOf(const std::string& id, const std::string& pid_file) {
  Pids p;
  nlohmann::json rec = nlohmann::json::parse(Slurp("/run/kata-containers/runtime/" + id + "/state.json"));
  p.monitor = rec.value("monitor_pid", 0);
  p.service = rec.value("service_pid", 0);
  EXPECT_EQ(std::to_string(p.monitor), Trim(Slurp(pid_file))) << "--pid-file and the record disagree";
  std::istringstream vmm(Slurp("/run/vc/vm/" + id + "/vmm.identity"));
  vmm >> p.qemu;
  EXPECT_EQ(std::to_string(p.qemu), Trim(Sh("pgrep -f '^[^ ]*qemu-system.*sandbox-" + id + "( |$)'").out))
      << "vmm.identity does not name the sandbox's QEMU";
  EXPECT_NE(ExeOf(p.service).find("containerd-shim-kata-v2"), std::string::npos) << ExeOf(p.service);
  EXPECT_NE(ExeOf(p.monitor).find("kata-runtime"), std::string::npos) << ExeOf(p.monitor);
  return p;
}

enum class Victim { kQemu, kService, kMonitor };
enum class Step { kCreated, kInStart, kRunning, kInExec, kAfterExec, kInDelete };

const char* Name(Victim v) {
  switch (v) {
    case Victim::kQemu: return "qemu";
    case Victim::kService: return "service";
    case Victim::kMonitor: return "monitor";
  }
  return "?";
}
const char* Name(Step s) {
  switch (s) {
    case Step::kCreated: return "after-create";
    case Step::kInStart: return "during-start";
    case Step::kRunning: return "after-start";
    case Step::kInExec: return "during-exec";
    case Step::kAfterExec: return "after-exec";
    case Step::kInDelete: return "during-delete";
  }
  return "?";
}

// Whatever a failed case left is removed, so that one failure does not
// become the next case's: frozen processes are thawed, the container
// force-deleted, a stray QEMU killed, a stray qdisc removed.
class Cleanup {
 public:
  Cleanup(std::string id, PodNetns* pod) : id_(std::move(id)), pod_(pod) {}
  ~Cleanup() {
    for (pid_t p : frozen_) kill(p, SIGCONT);
    if (access(("/run/kata-containers/runtime/" + id_).c_str(), F_OK) == 0) Kata({"delete", "-f", id_}, 60);
    Sh("pkill -9 -f '^[^ ]*qemu-system.*sandbox-" + id_ + "( |$)'");
    if (pod_ && pod_->EthIngress() > 0) Sh("tc -n " + pod_->name() + " qdisc del dev eth0 ingress");
  }
  void Frozen(pid_t p) { frozen_.push_back(p); }

 private:
  std::string id_;
  PodNetns* pod_;
  std::vector<pid_t> frozen_;
};

class FaultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    pod_ = new PodNetns("kt-fault-" + std::to_string(getpid()));
    bundle_ = tmp_->path() + "/sleeper";
    MakeBundle(bundle_, {"sleep", "600"});
    std::ifstream in(bundle_ + "/config.json");
    nlohmann::json spec = nlohmann::json::parse(in);
    spec["linux"]["namespaces"].push_back({{"type", "network"}, {"path", pod_->path()}});
    std::ofstream(bundle_ + "/config.json") << spec.dump(2);
  }
  static void TearDownTestSuite() {
    delete pod_;
    pod_ = nullptr;
    delete tmp_;
    tmp_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(pod_->ok()) << "could not make the pod network namespace"; }

  // One kill -9 case; the assertions are in the body, the counts printed.
  void KillCase(Victim victim, Step step);
  // kill -9 while `create` boots the VM: the create fails and leaves nothing.
  void KillDuringCreate(Victim victim);
  // create + start of `id` in the pod; its pids (QEMU's always found).
  void CreateAndStart(const std::string& id, const std::string& pid_file, Pids* pids);
  // Once a case is over: the host back to `base` (waiting up to 15 s for
  // asynchronous teardown) and nothing of `id` left. The counts to print:
  // "<Describe(after)>, fds +N, dir entries +N[ LEFT: ...]".
  std::string ExpectNothingLeft(const HostSnapshot& base, const std::string& id, const std::string& label = "");

  static inline TempDir* tmp_ = nullptr;
  static inline PodNetns* pod_ = nullptr;
  static inline std::string bundle_;
};

void FaultTest::CreateAndStart(const std::string& id, const std::string& pid_file, Pids* pids) {
  ASSERT_EQ(Kata({"create", "--bundle", bundle_, "--pid-file", pid_file, id}, 180).exit_code, 0);
  ASSERT_EQ(Kata({"start", id}).exit_code, 0);
  *pids = PidsOf(id, pid_file);
  ASSERT_GT(pids->qemu, 0);
}

std::string FaultTest::ExpectNothingLeft(const HostSnapshot& base, const std::string& id, const std::string& label) {
  HostSnapshot after = SnapshotSettled(base, 15, pod_->name());
  std::string diff = SnapshotDiff(base, after);
  EXPECT_EQ(diff, "") << label;
  EXPECT_EQ(Leaks(id), "") << label;
  char counts[96];
  std::snprintf(counts, sizeof counts, ", fds %+d, dir entries %+d", after.fds - base.fds,
                static_cast<int>(after.entries.size()) - static_cast<int>(base.entries.size()));
  return Describe(after) + counts + (diff.empty() ? "" : " LEFT: " + diff);
}

void FaultTest::KillCase(Victim victim, Step step) {
  std::string label = std::string(Name(victim)) + "@" + Name(step);
  HostSnapshot base = QuietHostSnapshot(pod_->name());
  std::string id = UniqueId(std::string("f-") + Name(victim));
  std::string pid_file = tmp_->path() + "/" + id + ".pid";
  Cleanup cleanup(id, pod_);

  auto t_create = Clock::now();
  CmdResult c = Kata({"create", "--bundle", bundle_, "--pid-file", pid_file, id}, 180);
  ASSERT_EQ(c.exit_code, 0) << c.err;
  double create_s = SecondsSince(t_create);
  Pids pids = PidsOf(id, pid_file);
  ASSERT_GT(pids.monitor, 0);
  ASSERT_GT(pids.service, 0);
  ASSERT_GT(pids.qemu, 0);
  // The snapshot sees a live sandbox (else "back to the baseline" would
  // prove nothing): its QEMU, service, monitor, lock and directories.
  HostSnapshot live = TakeHostSnapshot(pod_->name());
  EXPECT_EQ(live.qemu, base.qemu + 1);
  EXPECT_EQ(live.services, base.services + 1);
  EXPECT_EQ(live.runtimes, base.runtimes + 1);
  EXPECT_GT(live.locks, base.locks);
  EXPECT_GT(live.entries.size(), base.entries.size());
  // While the VM runs the pod's eth0 is mirrored to its tap (an ingress qdisc on each).
  EXPECT_EQ(pod_->EthIngress(), 1) << "the pod's eth0 is not mirrored to the VM";
  EXPECT_EQ(pod_->Taps(), 1) << "the VM has no tap in the pod's namespace";
  if (step != Step::kCreated && step != Step::kInStart) {
    CmdResult s = Kata({"start", id});
    ASSERT_EQ(s.exit_code, 0) << s.err;
  }
  if (step == Step::kAfterExec) {
    CmdResult e = Kata({"exec", id, "echo", "exec-ran"});
    ASSERT_EQ(e.exit_code, 0) << e.err;
    ASSERT_EQ(Trim(e.out), "exec-ran");
  }
  std::unique_ptr<Background> exec;
  if (step == Step::kInExec) {
    exec = std::make_unique<Background>(
        std::vector<std::string>{Runtime(), "exec", id, "sh", "-c", "echo exec-started; exec sleep 600"},
        tmp_->path() + "/" + id + ".exec");
    WaitUntil([&] { return exec->Output().find("exec-started") != std::string::npos; }, 30s, 20ms);
    ASSERT_NE(exec->Output().find("exec-started"), std::string::npos) << exec->Output();
  }
  pid_t victim_pid = victim == Victim::kQemu ? pids.qemu : victim == Victim::kService ? pids.service : pids.monitor;

  // `start` or `delete` in flight when the kill lands. QEMU and the service
  // are frozen first, so that the call is stuck in them (the agent's
  // StartContainer or Kill, the service's State) when the SIGKILL comes.
  // The monitor takes no part in either: it is killed as the call starts.
  std::unique_ptr<Background> start, del;
  if (step == Step::kInStart || step == Step::kInDelete) {
    if (victim != Victim::kMonitor) {
      ASSERT_EQ(kill(victim_pid, SIGSTOP), 0);
      cleanup.Frozen(victim_pid);
    }
    std::vector<std::string> call = {"timeout", "-k", "5", "60", Runtime()};
    if (step == Step::kInStart) {
      call.insert(call.end(), {"start", id});
      start = std::make_unique<Background>(call, tmp_->path() + "/" + id + ".start");
    } else {
      call.insert(call.end(), {"delete", "-f", id});
      del = std::make_unique<Background>(call, tmp_->path() + "/" + id + ".delete");
    }
    // A sleep: nothing on the host shows when the call has reached the frozen
    // process and waits on it; a second is ample for a local call to get there.
    if (victim != Victim::kMonitor) std::this_thread::sleep_for(1s);
  }
  auto t_kill = Clock::now();
  ASSERT_EQ(kill(victim_pid, SIGKILL), 0);
  EXPECT_TRUE(WaitGone(victim_pid, 10)) << "pid " << victim_pid << " did not die";

  std::string summary;
  if (step == Step::kInDelete) {
    int rc = del->Wait(70);
    double delete_s = SecondsSince(t_kill);
    EXPECT_EQ(rc, 0) << "delete -f interrupted by the kill of " << Name(victim) << ": " << del->Output();
    StateAnswer a = StateOf(id);
    EXPECT_EQ(a.exit_code, 1) << a.status;
    EXPECT_NE(a.err.find("does not exist"), std::string::npos) << a.err;
    EXPECT_LT(a.seconds, 5);
    char buf[160];
    std::snprintf(buf, sizeof buf, "delete -f exit %d %.2f s after the kill, then state: does not exist", rc, delete_s);
    summary = buf;
  } else {
    // `state` answers at once, with a clear status, and soon "stopped".
    StatePolls polls = PollStateUntilStopped(id, {"created", "running", "stopped"}, 15s, 50ms);
    const StateAnswer& a = polls.last;
    const int calls = polls.calls;
    const double slowest = polls.slowest;
    double stopped_s = SecondsSince(t_kill);
    EXPECT_EQ(a.status, "stopped") << "state after kill -9 of " << Name(victim) << ": " << a.err;
    EXPECT_LT(slowest, 5) << "state took " << slowest << " s";
    // Once stopped, nothing waits on the monitor any more: it has exited
    // (QEMU or service gone: its Wait failed; monitor: killed).
    bool monitor_gone = WaitGone(pids.monitor, 15);
    EXPECT_TRUE(monitor_gone) << "the monitor (pid " << pids.monitor << ") still runs once the container is stopped";
    // A booted VM does not outlive its service (PR_SET_PDEATHSIG).
    if (victim == Victim::kService) {
      EXPECT_TRUE(WaitGone(pids.qemu, 10)) << "QEMU outlived its killed service";
    }
    std::string start_result;
    if (start) {
      // The start in flight ends, failing when what it waited on died.
      int rc = start->Wait(30);
      EXPECT_NE(rc, -1) << "start still waiting 30 s after kill -9 of " << Name(victim);
      if (victim != Victim::kMonitor) {
        EXPECT_NE(rc, 0) << start->Output();
      }
      start_result = ", start exit " + std::to_string(rc);
      if (rc != 0) start_result += " (\"" + Trim(start->Output()).substr(0, 120) + "\")";
    }
    // The other verbs agree with `state`: a stopped container cannot be
    // started again or exec'd into.
    if (step == Step::kCreated || step == Step::kInStart) {
      CmdResult st = Kata({"start", id}, 30);
      EXPECT_NE(st.exit_code, 0);
      EXPECT_NE(st.err.find("cannot start a container that has stopped"), std::string::npos) << st.err;
    }
    CmdResult ex = Kata({"exec", id, "true"}, 30);
    EXPECT_NE(ex.exit_code, 0) << "exec ran in a container reported stopped";
    EXPECT_NE(ex.err.find("cannot exec in a stopped container"), std::string::npos) << ex.err;
    std::string exec_result;
    if (exec) {
      // The exec in flight ends (it is the caller's wait), with a failure.
      int rc = exec->Wait(30);
      EXPECT_NE(rc, -1) << "exec still waiting 30 s after kill -9 of " << Name(victim) << ": " << exec->Output();
      EXPECT_NE(rc, 0) << exec->Output();
      if (victim == Victim::kService) {
        EXPECT_NE(exec->Output().find("lost the sandbox service"), std::string::npos) << "exit 255 without a reason";
      }
      std::string said = Trim(exec->Output());
      said = said.substr(said.find("exec-started") == 0 ? 12 : 0);
      exec_result = ", exec exit " + std::to_string(rc) + (Trim(said).empty() ? " (no message)" : " (\"" + Trim(said).substr(0, 120) + "\")");
    }
    int ingress_before_delete = pod_->EthIngress();
    bool vm_dir_before_delete = access(("/run/vc/vm/" + id).c_str(), F_OK) == 0;
    auto t_delete = Clock::now();
    CmdResult d = Kata({"delete", id}, 60);
    double delete_s = SecondsSince(t_delete);
    EXPECT_EQ(d.exit_code, 0) << "delete of a stopped container: " << d.err;
    StateAnswer gone = StateOf(id);
    EXPECT_EQ(gone.exit_code, 1);
    EXPECT_NE(gone.err.find("does not exist"), std::string::npos) << gone.err;
    char buf[640];
    std::snprintf(buf, sizeof buf,
                  "state=stopped after %.2f s (%d calls, slowest %.2f s), monitor %s%s; before delete: vm dir %s, "
                  "ingress %d; delete %.2f s",
                  stopped_s, calls, slowest, monitor_gone ? "exited" : "STILL RUNNING", (start_result + exec_result).c_str(),
                  vm_dir_before_delete ? "left" : "gone", ingress_before_delete, delete_s);
    summary = buf;
  }
  std::string left = ExpectNothingLeft(base, id, label);
  std::printf("[fault] %-22s create %.2f s; %s\n[fault] %-22s after: %s\n", label.c_str(), create_s, summary.c_str(), "",
              left.c_str());
  std::fflush(stdout);
}

void FaultTest::KillDuringCreate(Victim victim) {
  std::string label = std::string(Name(victim)) + "@during-create";
  HostSnapshot base = QuietHostSnapshot(pod_->name());
  std::string id = UniqueId(std::string("f-") + Name(victim));
  std::string pid_file = tmp_->path() + "/" + id + ".pid";
  Cleanup cleanup(id, pod_);
  Background create({"timeout", "-k", "5", "180", Runtime(), "create", "--bundle", bundle_, "--pid-file", pid_file, id},
                    tmp_->path() + "/" + id + ".create");
  // QEMU writes its pid file as it starts, while the service is in the
  // Create call (the record, naming the service and the monitor, is saved
  // before it); the agent answers ~0.6 s later under TCG.
  pid_t qemu = 0;
  WaitUntil(
      [&] {
        if (create.Poll()) return true;  // it ended before QEMU was seen
        std::istringstream(Slurp("/run/vc/vm/" + id + "/qemu.pid")) >> qemu;
        if (qemu > 0 && ExeOf(qemu).find("qemu-system") != std::string::npos) return true;
        qemu = 0;
        return false;
      },
      60s, 2ms);
  ASSERT_GT(qemu, 0) << "QEMU never started: " << create.Output();
  pid_t victim_pid = qemu;
  if (victim != Victim::kQemu) {
    nlohmann::json rec = nlohmann::json::parse(Slurp("/run/kata-containers/runtime/" + id + "/state.json"));
    victim_pid = rec.value(victim == Victim::kService ? "service_pid" : "monitor_pid", 0);
  }
  ASSERT_GT(victim_pid, 0);
  ASSERT_TRUE(Alive(victim_pid));
  auto t_kill = Clock::now();
  ASSERT_EQ(kill(victim_pid, SIGKILL), 0);
  EXPECT_TRUE(WaitGone(victim_pid, 10)) << "pid " << victim_pid << " did not die";
  int rc = create.Wait(120);
  double create_s = SecondsSince(t_kill);
  std::string err = Trim(create.Output());
  EXPECT_NE(rc, 0) << "create succeeded: the kill came too late to test a failing create: " << err;
  EXPECT_NE(rc, -1) << "create hung after kill -9 of " << Name(victim);
  // The error says what died.
  std::string why = victim == Victim::kQemu      ? "QEMU for sandbox " + id + " exited with status 137 during start-up"
                    : victim == Victim::kService ? "the sandbox service of " + id + " (pid " + std::to_string(victim_pid) +
                                                       ") died during create"
                                                 : std::string("monitor process died during set-up");
  EXPECT_NE(err.find(why), std::string::npos) << err;
  // ... once: a kept log is named once ("(see X) (see X)" was printed).
  std::string kept = "/var/log/kata-containers/" + id + "-qemu.log";
  size_t first = err.find(kept);
  EXPECT_TRUE(first == std::string::npos || err.find(kept, first + 1) == std::string::npos) << err;
  // A failed create leaves nothing, as runc's does: no record, no VM.
  StateAnswer a = StateOf(id);
  EXPECT_EQ(a.exit_code, 1) << a.status;
  EXPECT_NE(a.err.find("does not exist"), std::string::npos) << a.err;
  EXPECT_LT(a.seconds, 5);
  CmdResult d = Kata({"delete", "-f", id});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  std::string left = ExpectNothingLeft(base, id, label);
  Sh("rm -f /var/log/kata-containers/" + id + "-*");  // the logs a failed boot keeps for the user
  size_t reason = err.find("error kata-runtime: ");
  std::printf("[fault] %-22s create exit %d %.2f s after the kill (\"%s\"), then state: %s\n[fault] %-22s after: %s\n",
              label.c_str(), rc, create_s, err.substr(reason == std::string::npos ? 0 : reason + 20, 240).c_str(),
              a.exit_code == 1 ? "does not exist" : a.status.c_str(), "", left.c_str());
  std::fflush(stdout);
}

// virtio-fs: kill -9 of the virtiofsd serving a running container's files
// (the one in its own pid namespace). A guest without its share would hang
// on its next file access: the VM is stopped, the container reported
// stopped with the reason in the service's log, and delete leaves nothing.
TEST_F(FaultTest, KillVirtiofsdWhileRunning) {
  HostSnapshot base = QuietHostSnapshot(pod_->name());
  std::string id = UniqueId("f-virtiofsd");
  std::string pid_file = tmp_->path() + "/" + id + ".pid";
  Cleanup cleanup(id, pod_);
  Pids pids;
  CreateAndStart(id, pid_file, &pids);
  EXPECT_EQ(TakeHostSnapshot(pod_->name()).virtiofsd, base.virtiofsd + 4);  // two exports, two processes each
  std::string server = Trim(Sh("for p in $(pgrep -x virtiofsd); do tr '\\0' ' ' </proc/$p/cmdline | grep 'sandboxes/" +
                               id + "/' | grep -q announce_submounts && [ \"$(cat /proc/$(ps -o ppid= -p $p | tr -d ' ')/comm)\" = virtiofsd ] && echo $p; done")
                                .out);
  ASSERT_FALSE(server.empty()) << "no serving virtiofsd for " << id;
  std::string service_log = "/run/kata-containers/runtime/" + id + "/service.log";
  auto t_kill = Clock::now();
  ASSERT_EQ(kill(std::stoi(server), SIGKILL), 0);
  EXPECT_TRUE(WaitGone(pids.qemu, 20)) << "QEMU outlived its virtiofsd";
  StateAnswer a;
  WaitUntil([&] { return (a = StateOf(id)).status == "stopped"; }, 30s);
  EXPECT_EQ(a.status, "stopped") << a.err;
  double stopped_s = SecondsSince(t_kill);
  std::string log = Slurp(service_log);
  EXPECT_NE(log.find("virtiofsd of sandbox " + id + " exited"), std::string::npos) << log;
  CmdResult d = Kata({"delete", "-f", id});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  std::string left = ExpectNothingLeft(base, id, "virtiofsd@running");
  std::printf("[fault] %-22s stopped %.2f s after the kill\n[fault] %-22s after: %s\n", "virtiofsd@running", stopped_s,
              "", left.c_str());
  std::fflush(stdout);
}

TEST_F(FaultTest, KillQemuDuringCreate) { KillDuringCreate(Victim::kQemu); }
TEST_F(FaultTest, KillServiceDuringCreate) { KillDuringCreate(Victim::kService); }
TEST_F(FaultTest, KillMonitorDuringCreate) { KillDuringCreate(Victim::kMonitor); }

#define KILL_CASE(victim, step, name) \
  TEST_F(FaultTest, name) { KillCase(Victim::victim, Step::step); }

KILL_CASE(kQemu, kCreated, KillQemuAfterCreate)
KILL_CASE(kQemu, kInStart, KillQemuDuringStart)
KILL_CASE(kQemu, kRunning, KillQemuAfterStart)
KILL_CASE(kQemu, kInExec, KillQemuDuringExec)
KILL_CASE(kQemu, kAfterExec, KillQemuAfterExec)
KILL_CASE(kQemu, kInDelete, KillQemuDuringDelete)
KILL_CASE(kService, kCreated, KillServiceAfterCreate)
KILL_CASE(kService, kInStart, KillServiceDuringStart)
KILL_CASE(kService, kRunning, KillServiceAfterStart)
KILL_CASE(kService, kInExec, KillServiceDuringExec)
KILL_CASE(kService, kAfterExec, KillServiceAfterExec)
KILL_CASE(kService, kInDelete, KillServiceDuringDelete)
KILL_CASE(kMonitor, kCreated, KillMonitorAfterCreate)
KILL_CASE(kMonitor, kInStart, KillMonitorDuringStart)
KILL_CASE(kMonitor, kRunning, KillMonitorAfterStart)
KILL_CASE(kMonitor, kInExec, KillMonitorDuringExec)
KILL_CASE(kMonitor, kAfterExec, KillMonitorAfterExec)
KILL_CASE(kMonitor, kInDelete, KillMonitorDuringDelete)

// An agent that stops answering: QEMU is frozen (SIGSTOP), so the guest and
// its agent go silent. The service's VmMonitor stops a VM whose agent has
// not answered for 30 s; the container is then stopped and delete leaves
// nothing. `state` must answer all along, and an exec sent to the frozen
// guest must not wait forever.
TEST_F(FaultTest, SilentAgentGetsItsVmStopped) {
  HostSnapshot base = QuietHostSnapshot(pod_->name());
  std::string id = UniqueId("f-silent");
  std::string pid_file = tmp_->path() + "/" + id + ".pid";
  Cleanup cleanup(id, pod_);
  Pids pids;
  ASSERT_NO_FATAL_FAILURE(CreateAndStart(id, pid_file, &pids));
  CmdResult alive = Kata({"exec", id, "echo", "alive"});
  ASSERT_EQ(Trim(alive.out), "alive") << alive.err;

  ASSERT_EQ(kill(pids.qemu, SIGSTOP), 0);
  cleanup.Frozen(pids.qemu);
  auto t_freeze = Clock::now();
  Background exec({"timeout", "-k", "5", "90", Runtime(), "exec", id, "echo", "frozen"}, tmp_->path() + "/" + id + ".exec");

  StatePolls polls =
      PollStateUntilStopped(id, {"running", "stopped"},
                            std::chrono::duration_cast<std::chrono::milliseconds>(t_freeze + 75s - Clock::now()), 1s,
                            [&] { exec.Poll(); });
  const StateAnswer& a = polls.last;
  const int calls = polls.calls;
  const double slowest = polls.slowest;
  double stopped_s = SecondsSince(t_freeze);
  EXPECT_EQ(a.status, "stopped") << "the VM of a silent agent was not stopped in " << stopped_s << " s";
  EXPECT_LT(stopped_s, 60);
  EXPECT_LT(slowest, 5) << "state hung on the frozen guest";
  EXPECT_TRUE(WaitGone(pids.qemu, 10)) << "the frozen QEMU was not killed";
  std::string log = Slurp("/run/kata-containers/runtime/" + id + "/service.log");
  EXPECT_NE(log.find("its agent has not answered"), std::string::npos) << log;
  int exec_rc = exec.Wait(100);
  double exec_s = std::chrono::duration<double>(exec.ended() - t_freeze).count();
  EXPECT_NE(exec_rc, -1) << "exec hung past its own 90 s bound";
  EXPECT_NE(exec_rc, 124) << "exec against the frozen guest only ended by timeout(1): " << exec.Output();
  EXPECT_NE(exec_rc, 0) << exec.Output();
  EXPECT_TRUE(WaitGone(pids.monitor, 15)) << "the monitor still runs once the container is stopped";

  CmdResult d = Kata({"delete", id});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  std::string left = ExpectNothingLeft(base, id);
  std::printf("[fault] silent-agent: state=stopped %.1f s after SIGSTOP of QEMU (%d state calls, slowest %.2f s); "
              "exec against the frozen guest: exit %d after %.1f s (%s)\n[fault] silent-agent after: %s\n",
              stopped_s, calls, slowest, exec_rc, exec_s, Trim(exec.Output()).substr(0, 200).c_str(), left.c_str());
  std::fflush(stdout);
}

// `delete -f` of a sandbox whose agent went silent (QEMU frozen) is not
// stuck on it: the calls to the agent time out or the VM is stopped, and
// delete removes everything.
TEST_F(FaultTest, DeleteForceOfASilentAgentsSandboxEnds) {
  HostSnapshot base = QuietHostSnapshot(pod_->name());
  std::string id = UniqueId("f-silentdel");
  std::string pid_file = tmp_->path() + "/" + id + ".pid";
  Cleanup cleanup(id, pod_);
  Pids pids;
  ASSERT_NO_FATAL_FAILURE(CreateAndStart(id, pid_file, &pids));
  ASSERT_EQ(kill(pids.qemu, SIGSTOP), 0);
  cleanup.Frozen(pids.qemu);
  auto t0 = Clock::now();
  CmdResult d = Kata({"delete", "-f", id}, 120);
  double delete_s = SecondsSince(t0);
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_LT(delete_s, 60) << "delete -f waited on the silent agent";
  StateAnswer a = StateOf(id);
  EXPECT_EQ(a.exit_code, 1) << a.status;
  EXPECT_NE(a.err.find("does not exist"), std::string::npos) << a.err;
  std::string left = ExpectNothingLeft(base, id);
  std::printf("[fault] silent-agent delete -f: exit %d after %.1f s, then state: %s\n"
              "[fault] silent-agent delete -f after: %s\n",
              d.exit_code, delete_s, a.exit_code == 1 ? "does not exist" : a.status.c_str(), left.c_str());
  std::fflush(stdout);
}

// --- 100 create/exec/delete cycles in one pod ----------------------------

constexpr const char* kRuntimeType = "io.containerd.kata.v2";
// $KATA_FAULT_CYCLES runs more (to tell a slow leak from allocator noise).
int Cycles() {
  const char* n = std::getenv("KATA_FAULT_CYCLES");
  return n && std::atoi(n) > 20 ? std::atoi(n) : 100;
}
constexpr int kWarmUp = 10;  // cycles before the reference counts (caches, thread pools fill up)

struct PodCounts {
  int service_fds = 0;
  long service_threads = 0, service_rss_kb = 0;
  int qemu_fds = 0;
  long qemu_threads = 0;
  int qemu_mounts = 0;   // the container binds live in QEMU's mount namespace
  int share_entries = 0;  // per-container directories of the share (mounts/)
  int agent_fds = -1, agent_threads = -1;
  long agent_rss_kb = -1;
};

std::string DescribePod(const PodCounts& c) {
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "service fds %d threads %ld rss %ld kB; qemu fds %d threads %ld mounts %d; share entries %d; "
                "agent fds %d threads %d rss %ld kB",
                c.service_fds, c.service_threads, c.service_rss_kb, c.qemu_fds, c.qemu_threads, c.qemu_mounts,
                c.share_entries, c.agent_fds, c.agent_threads, c.agent_rss_kb);
  return buf;
}

// Kubernetes keeps a pod and churns its containers (jobs, restarts, exec
// probes): a hundred cycles of container create -> exec -> delete in one
// pod, through containerd, must not grow the sandbox service, QEMU, the
// agent or the host. 100 VMs would take minutes under TCG; one pod does it
// in seconds and exercises the same create/exec/delete paths.
TEST(PodCyclesTest, HundredCreateExecDeleteCyclesInOnePod) {
  // The pod has a network (a CNI-like namespace), so its tap and mirror are
  // part of what must not grow.
  PodNetns netns("kt-cycles-" + std::to_string(getpid()));
  ASSERT_TRUE(netns.ok());
  HostSnapshot base = QuietHostSnapshot(netns.name());
  TempDir tmp;
  // The guest debug console is how the agent (PID 1 of the guest, outside
  // every container's pid namespace) is measured.
  std::string conf = tmp.path() + "/configuration.toml";
  std::ofstream(conf) << "[agent.kata]\ndebug_console_enabled = true\n";
  PrivateContainerd ctd(tmp.path());
  std::string why;
  setenv("KATA_CONF_FILE", conf.c_str(), 1);  // containerd's shims inherit it
  bool started = ctd.Start(&why);
  unsetenv("KATA_CONF_FILE");
  // Whatever a failure leaves (the pod, its shim and QEMU) goes before containerd does.
  struct RemovePod {
    PrivateContainerd& ctd;
    std::string dir;
    bool done = false;
    ~RemovePod() {
      if (done) return;
      ctd.RemoveAll();
      ctd.Stop();
      Sh("pkill -9 -f '[c]ontainerd-shim-kata-v2 .*-address " + dir + "/' || true");
    }
  } remove_pod{ctd, tmp.path()};
  ASSERT_TRUE(started) << why;
  ASSERT_TRUE(ctd.ImportImage(&why)) << why;

  std::string pod = UniqueId("pod");
  auto t_pod = Clock::now();
  std::string with_netns = "network:" + netns.path();
  CmdResult r = ctd.Ctr({"run", "-d", "--runtime", kRuntimeType, "--with-ns", with_netns, "--annotation",
                         "io.kubernetes.cri.container-type=sandbox", "--annotation", "io.kubernetes.cri.sandbox-id=" + pod,
                         PrivateContainerd::kImage, pod, "sleep", "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  double pod_s = SecondsSince(t_pod);
  pid_t service = std::atoi(Trim(Sh("pgrep -f '[c]ontainerd-shim-kata-v2 .*-id " + pod + " ' | head -1").out).c_str());
  pid_t qemu = 0;
  std::istringstream(Slurp("/run/vc/vm/" + pod + "/vmm.identity")) >> qemu;
  ASSERT_GT(service, 0);
  ASSERT_GT(qemu, 0);
  // Where the host attaches what the guest shares (sandbox/share.h): a
  // directory per container.
  std::string share = "/run/kata-containers/shared/sandboxes/" + pod + "/mounts";

  auto measure = [&](bool agent) {
    PodCounts c;
    c.service_fds = CountEntries("/proc/" + std::to_string(service) + "/fd");
    c.service_threads = StatusField(service, "Threads");
    c.service_rss_kb = StatusField(service, "VmRSS");
    c.qemu_fds = CountEntries("/proc/" + std::to_string(qemu) + "/fd");
    c.qemu_threads = StatusField(qemu, "Threads");
    c.qemu_mounts = CountLinesOf("/proc/" + std::to_string(qemu) + "/mountinfo");
    c.share_entries = CountEntries(share);
    if (agent) {
      CmdResult con = Sh("printf '%s\\n' 'echo AGENT fds=$(ls /proc/1/fd | wc -l) threads=$(ls /proc/1/task | wc -l) "
                         "rss=$(awk \"/VmRSS/{print \\$2}\" /proc/1/status)' | timeout 60 " + Runtime() + " exec " + pod);
      std::smatch m;
      static const std::regex re(R"(AGENT fds=(\d+) threads=(\d+) rss=(\d+))");
      EXPECT_TRUE(std::regex_search(con.out, m, re)) << "debug console: " << con.out << con.err;
      if (!m.empty()) {
        c.agent_fds = std::stoi(m[1]);
        c.agent_threads = std::stoi(m[2]);
        c.agent_rss_kb = std::stol(m[3]);
      }
    }
    return c;
  };

  PodCounts before = measure(true);
  HostSnapshot host_before = TakeHostSnapshot(netns.name());
  EXPECT_EQ(netns.EthIngress(), 1) << "the pod's eth0 is not mirrored to the VM";
  EXPECT_EQ(netns.Taps(), 1) << "the VM has no tap in the pod's namespace";
  PodCounts warm;
  int max_service_fds = 0, max_qemu_mounts = 0, max_share = 0, host_changed = 0;
  auto t_cycles = Clock::now();
  double t_warm = 0;
  const int kCycles = Cycles();
  for (int i = 1; i <= kCycles; i++) {
    std::string app = pod + "-c" + std::to_string(i);
    CmdResult run = ctd.Ctr({"run", "-d", "--runtime", kRuntimeType, "--with-ns", with_netns, "--annotation",
                             "io.kubernetes.cri.container-type=container", "--annotation",
                             "io.kubernetes.cri.sandbox-id=" + pod, PrivateContainerd::kImage, app, "sleep", "1000"});
    ASSERT_EQ(run.exit_code, 0) << "cycle " << i << ": " << run.out << run.err;
    // The counts below see a live container (its rootfs bind, its directory).
    PodCounts during = measure(false);
    EXPECT_GT(during.qemu_mounts, before.qemu_mounts) << "cycle " << i;
    EXPECT_EQ(during.share_entries, before.share_entries + 1) << "cycle " << i;
    CmdResult ex = ctd.Ctr({"task", "exec", "--exec-id", "e" + std::to_string(i), app, "sh", "-c", "echo cycle-$0", std::to_string(i)});
    ASSERT_EQ(ex.exit_code, 0) << "cycle " << i << ": " << ex.out << ex.err;
    ASSERT_EQ(Trim(ex.out), "cycle-" + std::to_string(i));
    CmdResult rm = ctd.Ctr({"task", "rm", "-f", app});
    ASSERT_EQ(rm.exit_code, 0) << "cycle " << i << ": " << rm.out << rm.err;
    CmdResult crm = ctd.Ctr({"container", "rm", app});
    ASSERT_EQ(crm.exit_code, 0) << "cycle " << i << ": " << crm.out << crm.err;
    // After every cycle: the pod's own counts, cheap to read.
    PodCounts now = measure(false);
    max_service_fds = std::max(max_service_fds, now.service_fds);
    max_qemu_mounts = std::max(max_qemu_mounts, now.qemu_mounts);
    max_share = std::max(max_share, now.share_entries);
    EXPECT_EQ(now.qemu_mounts, before.qemu_mounts) << "cycle " << i << " left a bind in QEMU's mount namespace";
    EXPECT_EQ(now.share_entries, before.share_entries) << "cycle " << i << " left a directory in the share";
    // And the host: no process, mount, tap, qdisc, lock, directory entry or
    // fd of ours more than with the pod alone.
    std::string host_diff = SnapshotDiff(host_before, SnapshotSettled(host_before, 5, netns.name()));
    EXPECT_EQ(host_diff, "") << "cycle " << i;
    if (!host_diff.empty()) host_changed++;
    if (i % 50 == 0) std::printf("[fault] cycles after %d: %s\n", i, DescribePod(measure(false)).c_str());
    if (i == kWarmUp) {
      warm = measure(true);
      t_warm = SecondsSince(t_cycles);
    }
    if (i > kWarmUp) {
      EXPECT_LE(now.service_fds, warm.service_fds + 2) << "cycle " << i;
    }
  }
  double cycles_s = SecondsSince(t_cycles);
  PodCounts last = measure(true);
  HostSnapshot host_last = TakeHostSnapshot(netns.name());
  EXPECT_EQ(CountEntries("/proc/" + std::to_string(service) + "/task"), last.service_threads);

  std::printf("[fault] %d cycles (ctr run -d, task exec, task rm -f, container rm) in pod %s: %.1f s, %.0f ms/cycle "
              "(pod boot %.1f s)\n",
              kCycles, pod.c_str(), cycles_s, 1000 * (cycles_s - t_warm) / (kCycles - kWarmUp), pod_s);
  std::printf("[fault] cycles before:   %s\n[fault] cycles after %d: %s\n[fault] cycles after %d: %s\n",
              DescribePod(before).c_str(), kWarmUp, DescribePod(warm).c_str(), kCycles, DescribePod(last).c_str());
  std::printf("[fault] cycles max after any cycle: service fds %d, qemu mounts %d, share entries %d; "
              "cycles after which the host differed: %d\n",
              max_service_fds, max_qemu_mounts, max_share, host_changed);
  std::printf("[fault] cycles host before: %s\n[fault] cycles host after:  %s\n", Describe(host_before).c_str(),
              Describe(host_last).c_str());
  std::fflush(stdout);

  // Nothing per container outlives it; the long-lived processes stay flat
  // from the warm-up on (bounds: a couple of fds or threads a pool may add,
  // and RSS noise of the allocator, far below 90 containers' worth).
  EXPECT_LE(last.service_fds, warm.service_fds + 2);
  EXPECT_LE(last.service_threads, warm.service_threads + 2);
  EXPECT_LE(last.service_rss_kb, warm.service_rss_kb + 2048);
  EXPECT_LE(last.qemu_fds, warm.qemu_fds + 2);
  EXPECT_LE(last.qemu_threads, warm.qemu_threads + 4);
  EXPECT_EQ(last.qemu_mounts, before.qemu_mounts);
  EXPECT_EQ(last.share_entries, before.share_entries);
  EXPECT_GE(last.agent_fds, 0);
  EXPECT_LE(last.agent_fds, warm.agent_fds + 1);
  EXPECT_LE(last.agent_threads, warm.agent_threads + 1);
  EXPECT_LE(last.agent_rss_kb, warm.agent_rss_kb + 1024);
  EXPECT_EQ(SnapshotDiff(host_before, host_last), "") << "the host changed over " << kCycles << " cycles";

  CmdResult rm = ctd.Ctr({"task", "rm", "-f", pod});
  EXPECT_EQ(rm.exit_code, 0) << rm.out << rm.err;
  EXPECT_EQ(ctd.Ctr({"container", "rm", pod}).exit_code, 0);
  ctd.RemoveAll();
  ctd.Stop();
  remove_pod.done = true;
  HostSnapshot after = SnapshotSettled(base, 15, netns.name());
  std::string diff = SnapshotDiff(base, after);
  EXPECT_EQ(diff, "") << "the pod left something";
  EXPECT_EQ(LeaksAfter(pod, 5), "");
  std::printf("[fault] cycles pod removed: %s, fds %+d%s\n", Describe(after).c_str(), after.fds - base.fds,
              diff.empty() ? "" : (" LEFT: " + diff).c_str());
}

}  // namespace
}  // namespace kata::itest
