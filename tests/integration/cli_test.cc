// kata-runtime against real VMs: the first slice's behaviour end to end.
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include "common/fd_passing.h"
#include "harness.h"

namespace kata::itest {
namespace {

class CliTest : public ::testing::Test {
 protected:
  TempDir tmp;
  std::string Bundle(const std::vector<std::string>& args, const std::string& name = "bundle") {
    std::string dir = tmp.path() + "/" + name;
    MakeBundle(dir, args);
    return dir;
  }
  CmdResult Kata(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
    args.insert(args.begin(), Runtime());
    return itest::Run(args, env);
  }
  // A configuration that differs from the installed one by `extra` lines in [hypervisor.qemu]/[agent.kata].
  std::map<std::string, std::string> ConfigWith(const std::string& qemu_extra, const std::string& agent_extra = "") {
    std::string path = tmp.path() + "/configuration.toml";
    std::ofstream f(path);
    f << "[hypervisor.qemu]\n" << qemu_extra << "\n[agent.kata]\n" << agent_extra << "\n";
    return {{"KATA_CONF_FILE", path}};
  }
};

TEST_F(CliTest, VersionIsRuncShaped) {
  CmdResult r = Kata({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("kata-runtime version ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\nspec: "), std::string::npos) << r.out;
}

// On any host (hardware KVM, emulated or nested KVM, no /dev/kvm at all)
// `check` names the accelerator it chose and why: the reason speaks of the
// choice ("... using KVM", "... using TCG", or the configuration's setting).
TEST_F(CliTest, CheckPassesAndNamesTheAccelerator) {
  CmdResult r = Kata({"check"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::regex line(R"re(\[ok\] +accelerator (kvm|tcg) \(configured "(auto|kvm|tcg)"\): (.+))re");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, line)) << r.out;
  std::string accel = m[1], reason = m[3];
  auto upper = [](std::string t) {
    for (char& c : t) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return t;
  };
  EXPECT_NE(upper(reason).find(upper(accel)), std::string::npos)
      << "the reason does not mention " << accel << ": " << reason;
  // A configured accelerator is used as configured, and said so, on any host.
  r = Kata({"check"}, ConfigWith("accelerator = \"tcg\""));
  EXPECT_NE(r.out.find("accelerator tcg (configured \"tcg\"): accelerator = \"tcg\" set in the configuration"),
            std::string::npos)
      << r.out;
}

// Input from the command line is checked: an error naming what is wrong,
// never an abort (std::stoi) or a crash (std::regex). No VM needed.
TEST_F(CliTest, HostileArgumentsAreErrorsNotCrashes) {
  CmdResult r = Kata({"state", std::string(50000, 'a')});
  EXPECT_EQ(r.exit_code, 1) << r.err.substr(0, 500);
  EXPECT_NE(r.err.find("container id too long: 50000 characters"), std::string::npos) << r.err.substr(0, 500);

  r = Kata({"kill", "no-such-container", "99999999999999999999"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("invalid signal \"99999999999999999999\""), std::string::npos) << r.err;

  // exec parses --user after loading the record: a record of a container
  // that never ran is enough.
  std::string root = tmp.path() + "/root";
  std::string bundle = Bundle({"true"});
  ASSERT_EQ(Sh("mkdir -p " + root + "/fake && echo '{\"id\":\"fake\",\"bundle\":\"" + bundle + "\"}' > " + root +
               "/fake/state.json").exit_code, 0);
  for (const char* user : {"abc", "1:abc", "99999999999999999999"}) {
    r = Kata({"--root", root, "exec", "-u", user, "fake", "true"});
    EXPECT_EQ(r.exit_code, 255) << user << ": " << r.err;
    EXPECT_NE(r.err.find("invalid user \"" + std::string(user) + "\": want UID[:GID]"), std::string::npos) << r.err;
  }
  r = Kata({"--root", root, "update", "--memory", "12x", "fake"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("invalid --memory \"12x\""), std::string::npos) << r.err;
}

// `delete` stops the recorded sandbox service only if that pid still is the
// service: a pid the kernel has handed to another process is never killed.
TEST_F(CliTest, DeleteNeverKillsARecycledPid) {
  std::string root = tmp.path() + "/root";
  pid_t other = fork();
  if (other == 0) {
    execlp("sleep", "sleep", "60", static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(other, 0);
  std::string id = UniqueId("recycled");
  // The record names `other` with a start time it does not have: what a
  // service whose pid was recycled looks like.
  std::string record = "{\"id\":\"" + id + "\",\"service_pid\":" + std::to_string(other) + ",\"service_start_time\":1}";
  std::string dir = root + "/" + id;
  ASSERT_EQ(Sh("mkdir -p " + dir + " && echo '" + record + "' > " + dir + "/state.json").exit_code, 0);
  CmdResult d = Kata({"--root", root, "delete", id});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(waitpid(other, nullptr, WNOHANG), 0) << "delete killed pid " << other << ", which was not its service";
  kill(other, SIGKILL);
  waitpid(other, nullptr, 0);
}

// `exec ID` with no command (the guest debug console) validates the id
// before it becomes part of /run/vc/vm/<id>/console.sock: "../../../tmp/x"
// must not reach a socket planted at /tmp/x/console.sock.
TEST_F(CliTest, DebugConsoleIdCannotLeadToAnotherSocket) {
  std::string planted = tmp.path() + "/x";
  ASSERT_EQ(Sh("mkdir -p " + planted).exit_code, 0);
  std::string sock_path = planted + "/console.sock";
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path.c_str());
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  CmdResult r = Kata({"exec", "../../.." + planted});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("invalid container id format"), std::string::npos) << r.err;
  int conn = accept(listener, nullptr, nullptr);
  EXPECT_LT(conn, 0) << "kata-runtime connected to the planted socket";
  if (conn >= 0) close(conn);
  close(listener);
}

TEST_F(CliTest, RunPrintsTheGuestKernelRelease) {
  std::string bundle = Bundle({"uname", "-r"});
  std::string id = UniqueId("uname");
  CmdResult r = Kata({"run", "--bundle", bundle, id});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct utsname host;
  uname(&host);
  EXPECT_EQ(Trim(r.out), GuestKernelRelease());
  EXPECT_NE(Trim(r.out), std::string(host.release)) << "the container ran on the host kernel";
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

TEST_F(CliTest, RunReturnsTheExitCodeAndBothStreams) {
  std::string bundle = Bundle({"sh", "-c", "echo to-out; echo to-err >&2; exit 3"});
  std::string id = UniqueId("exit3");
  CmdResult r = Kata({"run", "--bundle", bundle, id});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(Trim(r.out), "to-out");
  EXPECT_NE(r.err.find("to-err"), std::string::npos) << r.err;
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

TEST_F(CliTest, OutputIntoARegularFileKeepsTheCallersOffset) {
  // The caller's own fd reaches the service (SCM_RIGHTS): output lands after
  // what the caller wrote, and the caller's next write lands after it.
  std::string bundle = Bundle({"echo", "from-guest"});
  std::string id = UniqueId("file");
  std::string out = tmp.path() + "/out.txt";
  CmdResult r = Sh("(echo before; " + Runtime() + " run --bundle " + bundle + " " + id + "; echo after) > " + out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::ifstream f(out);
  std::string text((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(text, "before\nfrom-guest\nafter\n");
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

TEST_F(CliTest, ExecRunsInTheContainer) {
  std::string bundle = Bundle({"sleep", "600"});
  std::string id = UniqueId("exec");
  ASSERT_EQ(Kata({"run", "-d", "--bundle", bundle, id}).exit_code, 0);
  CmdResult e = Kata({"exec", id, "sh", "-c", "hostname; exit 4"});
  EXPECT_EQ(e.exit_code, 4) << e.err;
  EXPECT_EQ(Trim(e.out), "kata");
  std::string pid_file = tmp.path() + "/exec.pid";
  CmdResult d = Kata({"exec", "-d", "--pid-file", pid_file, id, "sleep", "1"});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  std::ifstream pf(pid_file);
  int pid = 0;
  pf >> pid;
  EXPECT_GT(pid, 0);
  CmdResult ps = Kata({"ps", "--format", "json", id});
  EXPECT_EQ(ps.exit_code, 0) << ps.err;
  EXPECT_EQ(ps.out.front(), '[') << ps.out;
  EXPECT_EQ(Kata({"delete", "--force", id}).exit_code, 0);
  CmdResult stopped = Kata({"exec", id, "true"});
  EXPECT_NE(stopped.exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

// Kata's `exec SANDBOX_ID` without a command: a shell in the guest, outside
// the containers (PID 1 is the agent, /init), session after session.
TEST_F(CliTest, ExecWithoutACommandIsTheGuestDebugConsole) {
  std::string bundle = Bundle({"sleep", "600"});
  std::string id = UniqueId("dbgcon");
  ASSERT_EQ(Kata({"run", "-d", "--bundle", bundle, id}).exit_code, 0);
  CmdResult none = Kata({"exec", id});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.err.find("debug_console_enabled"), std::string::npos) << none.err;
  EXPECT_EQ(Kata({"delete", "--force", id}).exit_code, 0);

  auto env = ConfigWith("", "debug_console_enabled = true");
  ASSERT_EQ(Kata({"run", "-d", "--bundle", bundle, id}, env).exit_code, 0);
  for (int session = 1; session <= 2; session++) {
    CmdResult r = Sh("printf 'uname -r; cat /proc/1/comm | tr a-z A-Z\\n' | timeout 60 " + Runtime() + " exec " + id, env);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(GuestKernelRelease()), std::string::npos) << "session " << session << ": " << r.out;
    EXPECT_NE(r.out.find("INIT"), std::string::npos) << "session " << session << ": " << r.out;
  }
  EXPECT_EQ(Kata({"delete", "--force", id}, env).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

// A caller's console socket gets the pty master (runc's protocol: one
// SCM_RIGHTS fd); the container sees a terminal of the caller's size.
TEST_F(CliTest, ConsoleSocketGetsAWorkingTerminal) {
  std::string bundle = tmp.path() + "/tty";
  MakeBundle(bundle, {"sh", "-c", "tty; stty size; read x; echo got-$x"}, /*tty=*/true);
  std::string sock_path = tmp.path() + "/console.sock";
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path.c_str());
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  int master = -1;
  std::thread receiver([&] {
    int conn = accept(listener, nullptr, nullptr);
    std::string name;
    std::vector<int> fds;
    if (conn >= 0 && RecvFds(conn, &name, &fds, 1).ok() && fds.size() == 1) master = fds[0];
    if (conn >= 0) close(conn);
  });
  std::string id = UniqueId("tty");
  CmdResult c = Kata({"create", "--bundle", bundle, "--console-socket", sock_path, id});
  receiver.join();
  close(listener);
  ASSERT_EQ(c.exit_code, 0) << c.err;
  ASSERT_GE(master, 0) << "no pty master arrived on the console socket";
  winsize ws{};
  ws.ws_row = 33;
  ws.ws_col = 111;
  ioctl(master, TIOCSWINSZ, &ws);
  // A sleep: the relay polls the size every 200 ms and nothing on the host
  // shows that it reached the guest; three polls' time, before the start.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  ASSERT_EQ(Kata({"start", id}).exit_code, 0);
  ASSERT_EQ(write(master, "hello\n", 6), 6);
  std::string out;
  char buf[256];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (out.find("got-hello") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, 200) > 0) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(master);
  EXPECT_NE(out.find("/dev/pts/"), std::string::npos) << out;
  EXPECT_NE(out.find("33 111"), std::string::npos) << out;
  EXPECT_NE(out.find("got-hello"), std::string::npos) << out;
  EXPECT_EQ(Kata({"delete", "--force", id}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

TEST_F(CliTest, PauseResumeAndUpdate) {
  std::string bundle = Bundle({"sh", "-c", "while true; do date +%s%N > /tmp/tick; sleep 0.1; done"});
  std::string id = UniqueId("pause");
  ASSERT_EQ(Kata({"run", "-d", "--bundle", bundle, id}).exit_code, 0);
  ASSERT_EQ(Kata({"pause", id}).exit_code, 0);
  CmdResult s = Kata({"state", id});
  EXPECT_NE(s.out.find("\"status\": \"paused\""), std::string::npos) << s.out;
  CmdResult e = Kata({"exec", id, "true"});
  EXPECT_NE(e.exit_code, 0) << "exec into a paused container must be refused";
  EXPECT_NE(Kata({"delete", id}).exit_code, 0) << "a paused container is not stopped";
  ASSERT_EQ(Kata({"resume", id}).exit_code, 0);
  s = Kata({"state", id});
  EXPECT_NE(s.out.find("\"status\": \"running\""), std::string::npos) << s.out;
  CmdResult ev = Kata({"events", "--stats", id});
  EXPECT_EQ(ev.exit_code, 0) << ev.err;
  EXPECT_NE(ev.out.find("\"type\":\"stats\""), std::string::npos) << ev.out;
  EXPECT_NE(ev.out.find("\"pids\":{\"current\":"), std::string::npos) << ev.out;
  CmdResult u = Kata({"update", "--pids-limit", "42", id});
  EXPECT_EQ(u.exit_code, 0) << u.err;
  CmdResult pids = Kata({"exec", id, "cat", "/sys/fs/cgroup/pids.max"});
  if (pids.exit_code == 0) {
    EXPECT_EQ(Trim(pids.out), "42");
  }
  EXPECT_EQ(Kata({"delete", "--force", id}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

TEST_F(CliTest, DeleteCleansUpAfterAKilledService) {
  std::string bundle = Bundle({"sleep", "600"});
  std::string id = UniqueId("svckill");
  ASSERT_EQ(Kata({"run", "-d", "--bundle", bundle, id}).exit_code, 0);
  ASSERT_EQ(Sh("pkill -9 -f '[c]ontainerd-shim-kata-v2 .*-id " + id + " '").exit_code, 0);
  CmdResult s = Kata({"state", id});
  EXPECT_NE(s.out.find("\"status\": \"stopped\""), std::string::npos) << s.out << s.err;
  EXPECT_EQ(Kata({"delete", id}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

TEST_F(CliTest, CreateStartStateKillDelete) {
  std::string bundle = Bundle({"sleep", "600"});
  std::string id = UniqueId("life");
  std::string pid_file = tmp.path() + "/pid";
  CmdResult c = Kata({"create", "--bundle", bundle, "--pid-file", pid_file, id});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  std::ifstream pf(pid_file);
  int pid = 0;
  pf >> pid;
  ASSERT_GT(pid, 0);
  EXPECT_EQ(kill(pid, 0), 0) << "the pid-file process must be alive while the container is";

  CmdResult s = Kata({"state", id});
  EXPECT_EQ(s.exit_code, 0) << s.err;
  EXPECT_NE(s.out.find("\"status\": \"created\""), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("\"pid\": " + std::to_string(pid)), std::string::npos) << s.out;

  CmdResult dup = Kata({"create", "--bundle", bundle, id});
  EXPECT_NE(dup.exit_code, 0);
  EXPECT_NE(dup.err.find("exists"), std::string::npos) << dup.err;

  ASSERT_EQ(Kata({"start", id}).exit_code, 0);
  s = Kata({"state", id});
  EXPECT_NE(s.out.find("\"status\": \"running\""), std::string::npos) << s.out;
  CmdResult again = Kata({"start", id});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("already running"), std::string::npos) << again.err;

  CmdResult del_running = Kata({"delete", id});
  EXPECT_NE(del_running.exit_code, 0);
  EXPECT_NE(del_running.err.find("not stopped"), std::string::npos) << del_running.err;

  ASSERT_EQ(Kata({"kill", id, "KILL"}).exit_code, 0);
  // The monitor process exits with the container: 128 + SIGKILL.
  WaitUntil([&] { return kill(pid, 0) != 0; }, 10s, 50ms);
  EXPECT_NE(kill(pid, 0), 0) << "monitor still alive after kill";
  s = Kata({"state", id});
  EXPECT_NE(s.out.find("\"status\": \"stopped\""), std::string::npos) << s.out;

  CmdResult d = Kata({"delete", id});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  CmdResult gone = Kata({"state", id});
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_NE(gone.err.find("does not exist"), std::string::npos) << gone.err;
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

// runc's rule: a created/running container always has a live pid. When the
// monitor (the pid callers wait on) dies, the container is reported stopped,
// its processes are killed, and a plain `delete` removes it.
TEST_F(CliTest, AContainerWhoseMonitorDiedIsStopped) {
  std::string bundle = Bundle({"sleep", "600"});
  std::string id = UniqueId("orphan");
  std::string pid_file = tmp.path() + "/orphan.pid";
  ASSERT_EQ(Kata({"run", "-d", "--pid-file", pid_file, "--bundle", bundle, id}).exit_code, 0);
  std::ifstream pf(pid_file);
  int pid = 0;
  pf >> pid;
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  WaitUntil([&] { return access(("/proc/" + std::to_string(pid)).c_str(), F_OK) != 0; }, 5s, 10ms);
  CmdResult s = Kata({"state", id});
  EXPECT_EQ(s.exit_code, 0) << s.err;
  EXPECT_NE(s.out.find("\"status\": \"stopped\""), std::string::npos) << s.out;
  EXPECT_NE(s.err.find("monitor process (pid " + std::to_string(pid) + ") is gone"), std::string::npos) << s.err;
  // The service agrees once the guest process is gone (killed by `state`).
  WaitUntil([&] { return (s = Kata({"state", id})).err.find("is gone") == std::string::npos; }, 20s);
  EXPECT_EQ(s.err.find("is gone"), std::string::npos) << "the container's process was not killed: " << s.err;
  CmdResult d = Kata({"delete", id});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

TEST_F(CliTest, BadBundleIsRejectedNamingTheFile) {
  std::string id = UniqueId("badbundle");
  CmdResult r = Kata({"create", "--bundle", tmp.path() + "/nowhere", id});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
  std::string bundle = Bundle({"true"}, "broken");
  Sh("echo '{ not json' > " + bundle + "/config.json");
  r = Kata({"create", "--bundle", bundle, id});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
  EXPECT_EQ(Leaks(id), "");
}

// Caller fds cannot follow the process into the VM: refused up front, and a
// namespace path of the wrong type is refused as runc refuses it.
TEST_F(CliTest, UnsupportedOrInconsistentRequestsAreRefused) {
  std::string id = UniqueId("refused");
  std::string bundle = Bundle({"true"}, "refused");
  CmdResult r = Kata({"create", "--preserve-fds", "2", "--bundle", bundle, id});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--preserve-fds"), std::string::npos) << r.err;
  EXPECT_EQ(Leaks(id), "");
  Sh("sed -i 's|\"type\": *\"ipc\"|\"type\": \"ipc\", \"path\": \"/proc/self/ns/uts\"|' " + bundle + "/config.json");
  ASSERT_NE(Sh("cat " + bundle + "/config.json").out.find("/proc/self/ns/uts"), std::string::npos);
  r = Kata({"create", "--bundle", bundle, id});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("is not a namespace of type ipc"), std::string::npos) << r.err;
  EXPECT_EQ(LeaksAfter(id, 10), "");
}

TEST_F(CliTest, UnknownContainerErrors) {
  for (const char* verb : {"state", "start", "kill", "delete"}) {
    CmdResult r = Kata({verb, "no-such-container"});
    EXPECT_NE(r.exit_code, 0) << verb;
    EXPECT_NE(r.err.find("does not exist"), std::string::npos) << verb << ": " << r.err;
  }
  EXPECT_EQ(Kata({"delete", "--force", "no-such-container"}).exit_code, 0);
}

// Failure cases: one clear error naming the cause, and nothing left behind.
class FailureTest : public CliTest {};

TEST_F(FailureTest, MissingKernel) {
  std::string bundle = Bundle({"true"});
  std::string id = UniqueId("nokernel");
  CmdResult r = Kata({"run", "--bundle", bundle, id}, ConfigWith("kernel = \"/nonexistent/vmlinux\""));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("/nonexistent/vmlinux"), std::string::npos) << r.err;
  EXPECT_EQ(LeaksAfter(id, 10), "");
  Sh("rm -f /var/log/kata-containers/" + id + "-*");  // the logs kept for the user
}

TEST_F(FailureTest, QemuFailsToStart) {
  std::string bundle = Bundle({"true"});
  std::string id = UniqueId("badqemu");
  CmdResult r = Kata({"run", "--bundle", bundle, id}, ConfigWith("machine_accelerators = \"no-such-option=on\""));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("QEMU"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("qemu.log"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no-such-option"), std::string::npos) << "QEMU's own complaint is quoted: " << r.err;
  EXPECT_EQ(LeaksAfter(id, 10), "");
  Sh("rm -f /var/log/kata-containers/" + id + "-*");  // the logs kept for the user
}

TEST_F(FailureTest, AgentNeverAnswers) {
  // An initrd whose /init never opens the agent port.
  std::string root = tmp.path() + "/initrd-root";
  ASSERT_EQ(Sh("mkdir -p " + root + "/bin && cp /bin/busybox " + root + "/bin/ && " +
               "printf '#!/bin/busybox sh\\n/bin/busybox sleep 1000\\n' > " + root + "/init && chmod +x " + root +
               "/init && cd " + root + " && find . | cpio -o -H newc > " + tmp.path() + "/silent.img 2>/dev/null")
                .exit_code,
            0);
  std::string bundle = Bundle({"true"});
  std::string id = UniqueId("silent");
  CmdResult r = Kata({"run", "--bundle", bundle, id},
                     ConfigWith("initrd = \"" + tmp.path() + "/silent.img\"", "dial_timeout = 5"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("did not answer"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("console.log"), std::string::npos) << r.err;
  EXPECT_EQ(LeaksAfter(id, 10), "");
  Sh("rm -f /var/log/kata-containers/" + id + "-*");  // the logs kept for the user
}

TEST_F(FailureTest, GuestKernelPanicIsQuoted) {
  // Not an initramfs: the guest kernel panics; the error quotes why, not the
  // stack dump that ends the console.
  std::string bogus = tmp.path() + "/bogus.img";
  ASSERT_EQ(Sh("head -c 4096 /dev/urandom > " + bogus).exit_code, 0);
  std::string bundle = Bundle({"true"});
  std::string id = UniqueId("panic");
  CmdResult r = Kata({"run", "--bundle", bundle, id}, ConfigWith("initrd = \"" + bogus + "\""));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Kernel panic - not syncing"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("console.log"), std::string::npos) << r.err;
  EXPECT_EQ(LeaksAfter(id, 10), "");
  Sh("rm -f /var/log/kata-containers/" + id + "-*");  // the logs kept for the user
}

}  // namespace
}  // namespace kata::itest
