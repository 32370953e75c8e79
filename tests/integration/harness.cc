#include "harness.h"

#include <fcntl.h>
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

std::string ReadAll(int fd) {
  std::string out;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

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
  CmdResult m = Sh("grep -F -- '" + id + "' /proc/mounts || true");
  if (!Trim(m.out).empty()) leaks += "mounts left: " + Trim(m.out) + "\n";
  for (const std::string& dir : {"/run/kata-containers/runtime/" + id, "/run/vc/vm/" + id,
                                 "/run/kata-containers/shared/sandboxes/" + id}) {
    if (access(dir.c_str(), F_OK) == 0) leaks += "directory left: " + dir + "\n";
  }
  CmdResult s = Sh("pgrep -a -f '[c]ontainerd-shim-kata-v2 .*-id " + id + " ' || true");
  if (!Trim(s.out).empty()) leaks += "sandbox service still running: " + Trim(s.out) + "\n";
  return leaks;
}

std::string LeaksAfter(const std::string& id, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::string l;
  while (!(l = Leaks(id)).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return l;
}

std::string UniqueId(const std::string& base) {
  static int n = 0;
  return "it-" + base + "-" + std::to_string(getpid()) + "-" + std::to_string(++n);
}

std::string HttpGet(const std::string& url, int seconds) {
  for (int i = 0; i < seconds * 2; i++) {
    CmdResult r = Run({"curl", "-sf", "-m", "2", url});
    if (r.exit_code == 0) return Trim(r.out);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return "";
}

std::string ServeHttpCommand(const std::string& body_cmd, int port) {
  return "mkdir -p /www && " + body_cmd + " > /www/index.html && exec httpd -f -p " + std::to_string(port) + " -h /www";
}

}  // namespace kata::itest
