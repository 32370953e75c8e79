#include "agent/container/start_hooks.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include <nlohmann/json.hpp>

#include "common/unique_fd.h"

namespace kata::agent {

void BuildStartHooks(const oci::Spec& spec, const std::string& id, const std::string& bundle, LaunchPlan* plan) {
  if (!spec.hooks || spec.hooks->start_container.empty()) return;
  const std::vector<oci::Hook>& hooks = spec.hooks->start_container;
  // The state as runtime-spec defines it; the pid is the init's, filled in by
  // the child (json dumps "pid":0 as the place to cut).
  std::string state = nlohmann::json{{"ociVersion", "1.0.2"}, {"id", id}, {"status", "created"},
                                     {"pid", 0}, {"bundle", bundle}}.dump();
  size_t cut = state.find("\"pid\":0") + 6;
  plan->hook_state_head = state.substr(0, cut);
  plan->hook_state_tail = state.substr(cut + 1);
  // HookSteps point into themselves: sized once, filled in place.
  plan->start_hooks.resize(hooks.size());
  for (size_t i = 0; i < hooks.size(); i++) {
    HookStep& h = plan->start_hooks[i];
    h.path = hooks[i].path;
    h.args = hooks[i].args.empty() ? std::vector<std::string>{hooks[i].path} : hooks[i].args;
    h.env = hooks[i].env.empty() ? std::vector<std::string>{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"} : hooks[i].env;
    h.timeout_s = hooks[i].timeout.value_or(0);
    h.what = "startContainer hook " + h.path;
    for (std::string& a : h.args) h.argv.push_back(a.data());
    h.argv.push_back(nullptr);
    for (std::string& e : h.env) h.envp.push_back(e.data());
    h.envp.push_back(nullptr);
  }
}

namespace child {
namespace {

long NowMs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

// The state with this process's pid, into buf (no allocation).
size_t StateInto(const LaunchPlan& plan, char* buf, size_t cap) {
  char digits[16];
  int n = 0;
  for (long pid = syscall(SYS_getpid); pid > 0 && n < 16; pid /= 10) digits[n++] = static_cast<char>('0' + pid % 10);
  size_t len = 0;
  auto put = [&](const char* s, size_t l) {
    for (size_t i = 0; i < l && len < cap; i++) buf[len++] = s[i];
  };
  put(plan.hook_state_head.data(), plan.hook_state_head.size());
  while (n > 0) put(&digits[--n], 1);
  put(plan.hook_state_tail.data(), plan.hook_state_tail.size());
  return len;
}

Step RunOne(const LaunchPlan& plan, const HookStep& h) {
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0) return Fail(errno, "pipe for ", h.what.c_str());
  UniqueFd in_r(in[0]), in_w(in[1]);
  // A raw fork: glibc's fork() would run atfork handlers (child_util.h).
  pid_t pid = static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
  if (pid < 0) return Fail(errno, "fork for ", h.what.c_str());
  if (pid == 0) {  // runs no destructor: execs or _exits
    if (dup2(in_r.get(), 0) < 0) _exit(126);
    execve(h.path.c_str(), h.argv.data(), h.envp.data());
    _exit(errno == ENOENT ? 127 : 126);
  }
  in_r.reset();  // the hook's
  char state[4096];
  size_t len = StateInto(plan, state, sizeof state);
  // A hook that does not read its stdin must not kill the init with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  (void)!WriteAll(in_w.get(), state, len);
  signal(SIGPIPE, SIG_DFL);
  in_w.reset();  // EOF for the hook, before we wait for it
  long deadline = h.timeout_s > 0 ? NowMs() + h.timeout_s * 1000L : 0;
  int status = 0;
  for (;;) {
    pid_t r = static_cast<pid_t>(syscall(SYS_wait4, pid, &status, deadline ? WNOHANG : 0, nullptr));
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return Fail(errno, "wait for ", h.what.c_str());
    if (deadline && NowMs() > deadline) {
      kill(pid, SIGKILL);
      syscall(SYS_wait4, pid, &status, 0, nullptr);
      return FailMsg(Code::kDeadlineExceeded, h.what.c_str(), " timed out");
    }
    if (deadline) {
      timespec pause{0, 5 * 1000 * 1000};
      nanosleep(&pause, nullptr);
    }
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return FailMsg(Code::kNotFound, h.what.c_str(), ": not found in the container");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return FailMsg(Code::kFailedPrecondition, h.what.c_str(), " failed");
  return Ok();
}

}  // namespace

Step RunStartHooks(const LaunchPlan& plan) {
  for (const HookStep& h : plan.start_hooks) CHILD_TRY(RunOne(plan, h));
  return Ok();
}

}  // namespace child
}  // namespace kata::agent
