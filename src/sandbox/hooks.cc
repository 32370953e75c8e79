#include "sandbox/hooks.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/process.h"
#include "common/unique_fd.h"

namespace kata::sandbox {
namespace {

Status RunOne(const std::string& kind, const oci::Hook& hook, const std::string& state_json, int netns_fd) {
  // A socket rather than a pipe: a hook that exits without reading its stdin
  // must not kill us with SIGPIPE (send with MSG_NOSIGNAL).
  int in[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) return ErrnoError("socketpair for hook");
  UniqueFd hook_end(in[0]), our_end(in[1]);
  proc::SpawnOptions so;
  so.stdin_fd = hook_end.get();
  so.stdout_fd = 2;
  so.stderr_fd = 2;
  so.netns_fd = netns_fd;
  so.env = hook.env.empty() ? std::vector<std::string>{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"} : hook.env;
  so.executable = hook.path;  // args[0] is the hook's name for itself
  auto pid = proc::Spawn(hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args, so);
  hook_end.reset();
  if (!pid.ok()) return pid.status().Wrap(kind + " hook " + hook.path);
  ssize_t unused = send(our_end.get(), state_json.data(), state_json.size(), MSG_NOSIGNAL);
  (void)unused;
  our_end.reset();  // EOF: the hook has the whole state
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(hook.timeout.value_or(0));
  int status = 0;
  while (true) {
    pid_t r = waitpid(*pid, &status, hook.timeout ? WNOHANG : 0);
    if (r == *pid) break;
    if (r < 0 && errno != EINTR) return ErrnoError("wait for " + kind + " hook " + hook.path);
    if (hook.timeout && std::chrono::steady_clock::now() > deadline) {
      kill(*pid, SIGKILL);
      waitpid(*pid, nullptr, 0);
      return Error(Code::kDeadlineExceeded, kind + " hook " + hook.path + " timed out after " +
                                                std::to_string(*hook.timeout) + " s");
    }
    if (hook.timeout) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  int code = proc::DecodeWaitStatus(status);
  if (code != 0) return Error(Code::kFailedPrecondition, kind + " hook " + hook.path + " exited with status " + std::to_string(code));
  return Status::Ok();
}

}  // namespace

Status RunHooks(const std::string& kind, const std::vector<oci::Hook>& hooks, const HookState& state, int netns_fd) {
  if (hooks.empty()) return Status::Ok();
  nlohmann::json j = {{"ociVersion", "1.0.2"}, {"id", state.id}, {"status", state.status},
                      {"pid", state.pid}, {"bundle", state.bundle}};
  if (!state.annotations.empty()) j["annotations"] = state.annotations;
  std::string state_json = j.dump();
  for (const auto& h : hooks) RETURN_IF_ERROR(RunOne(kind, h, state_json, netns_fd));
  return Status::Ok();
}

}  // namespace kata::sandbox
