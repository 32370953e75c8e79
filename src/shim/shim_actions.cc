#include "shim/shim_actions.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/json_parse.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/process.h"
#include "common/process_identity.h"
#include "common/unique_fd.h"
#include "sandbox/leftovers.h"
#include "sandbox/ownership.h"
#include "sandbox/paths.h"
#include "shim/rootfs_mount.h"
#include "common/sha256.h"
#include "task.pb.h"
#include "ttrpc/socket.h"

namespace kata::shim {
namespace {

constexpr const char* kSocketDir = "/run/containerd/s";

// Go's filepath.Clean for the absolute/relative paths containerd uses.
std::string CleanPath(const std::string& p) {
  bool abs = !p.empty() && p[0] == '/';
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    std::string part = p.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..") parts.pop_back();
      else if (!abs) parts.push_back(part);
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out = abs ? "/" : "";
  for (size_t k = 0; k < parts.size(); k++) out += (k ? "/" : "") + parts[k];
  return out.empty() ? "." : out;
}

// A service exiting on its own (after Shutdown) gets 2 s to finish its
// clean-up; a hung one is killed, if it is still the process we started.
void StopService(const proc::Identity& id) {
  if (Status st = proc::StopVerified(id, "containerd-shim-kata-v2", 0, std::chrono::seconds(2)); !st.ok()) {
    log::Warn("sandbox service: " + st.message());
  }
}

}  // namespace

std::string SocketPath(const std::string& containerd_address, const std::string& ns, const std::string& id) {
  return std::string(kSocketDir) + "/" + Sha256Hex(CleanPath(containerd_address + "/" + ns + "/" + id));
}

std::string GroupId(const std::string& id, const std::map<std::string, std::string>& a) {
  auto type = a.find("io.kubernetes.cri.container-type");
  auto sid = a.find("io.kubernetes.cri.sandbox-id");
  if (type != a.end() && type->second == "container" && sid != a.end() && !sid->second.empty()) return sid->second;
  return id;
}

std::map<std::string, std::string> BundleAnnotations(const std::string& bundle) {
  std::map<std::string, std::string> out;
  auto text = fs::ReadFile(fs::JoinPath(bundle, "config.json"));
  if (!text.ok()) return out;
  auto parsed = ParseJsonBounded(*text, "config.json");
  if (!parsed.ok()) return out;
  const nlohmann::json& spec = *parsed;
  if (!spec.is_object() || !spec.contains("annotations") || !spec["annotations"].is_object()) {
    return out;
  }
  for (auto& [k, v] : spec["annotations"].items())
    if (v.is_string()) out[k] = v.get<std::string>();
  return out;
}

namespace {

// Options Any (e.g. runc's) on stdin when containerd has some: read and ignore.
void DrainOptions() {
  if (isatty(0)) return;
  char buf[4096];
  while (read(0, buf, sizeof buf) > 0) {
  }
}

Result<std::string> BundleOf(const ShimFlags& f) {
  if (!f.bundle.empty()) return f.bundle;
  return fs::AbsolutePath(".");
}

std::vector<std::string> ServeArgv(const ShimFlags& f, const std::string& self_exe) {
  std::vector<std::string> argv = {self_exe, "-namespace", f.ns, "-id", f.id, "-address", f.address};
  if (!f.publish_binary.empty()) argv.insert(argv.end(), {"-publish-binary", f.publish_binary});
  if (!f.config.empty()) argv.insert(argv.end(), {"-config", f.config});
  if (f.debug) argv.push_back("-debug");
  return argv;
}

// The serving shim: own session, listening socket on fd 3, stdio on
// /dev/null so containerd's CombinedOutput pipe sees EOF when we exit.
Result<pid_t> SpawnServingShim(std::vector<std::string> argv, int listen_fd) {
  pid_t pid = fork();
  if (pid < 0) return ErrnoError("fork");
  if (pid > 0) return pid;
  setsid();
  int devnull = open("/dev/null", O_RDWR);
  dup2(devnull, 0);
  dup2(devnull, 1);
  dup2(devnull, 2);
  if (listen_fd == 3) {
    fcntl(3, F_SETFD, 0);
  } else {
    dup2(listen_fd, 3);
  }
  proc::CloseFdsFrom(4);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

// Who the pid is: `delete` signals it only while it is still that process.
Status RecordShim(const std::string& bundle, pid_t pid) {
  RETURN_IF_ERROR(fs::WriteFileAtomic(fs::JoinPath(bundle, "shim.pid"), std::to_string(pid), 0644));
  auto id = proc::IdentityOf(pid);
  if (!id.ok()) return Status::Ok();  // gone already: delete finds nothing to signal
  return fs::WriteFileAtomic(fs::JoinPath(bundle, "shim.identity"), proc::ToText(*id), 0644);
}

// containerd reads the address from stdout; the bundle keeps it for delete.
int AnswerAddress(const std::string& bundle, const std::string& address) {
  Status st = fs::WriteFileAtomic(fs::JoinPath(bundle, "address"), address, 0644);
  if (!st.ok()) {
    std::fprintf(stderr, "start: %s\n", st.message().c_str());
    return 1;
  }
  std::fputs(address.c_str(), stdout);
  return 0;
}

int StartFailed(const Status& st) {
  std::fprintf(stderr, "start: %s\n", st.message().c_str());
  return 1;
}

}  // namespace

int StartAction(const ShimFlags& f, const std::string& self_exe) {
  DrainOptions();
  if (f.id.empty()) {
    std::fprintf(stderr, "start: -id is required\n");
    return 1;
  }
  auto bundle = BundleOf(f);
  if (!bundle.ok()) return StartFailed(bundle.status());
  std::string group = GroupId(f.id, BundleAnnotations(*bundle));
  std::string path = SocketPath(f.address, f.ns, group);
  std::string address = "unix://" + path;
  // A pod container: served by its sandbox's shim, which CRI started first.
  if (group != f.id) return AnswerAddress(*bundle, address);
  // A shim already serving this id (a repeated start) keeps serving it.
  if (UniqueFd(ttrpc::DialUnix(path).value_or(-1)).valid()) return AnswerAddress(*bundle, address);
  if (Status st = fs::MkdirAll(kSocketDir, 0711); !st.ok()) return StartFailed(st);
  auto lfd = ttrpc::ListenUnix(path);
  if (!lfd.ok()) return StartFailed(lfd.status());
  UniqueFd listener(*lfd);
  auto pid = SpawnServingShim(ServeArgv(f, self_exe), listener.get());
  listener.reset();  // the serving shim has its own copy
  Status st = pid.ok() ? RecordShim(*bundle, *pid) : pid.status();
  if (st.ok() && AnswerAddress(*bundle, address) == 0) return 0;
  if (pid.ok()) kill(*pid, SIGKILL);
  unlink(path.c_str());
  return st.ok() ? 1 : StartFailed(st);
}

int DeleteAction(const ShimFlags& f) {
  std::string bundle = f.bundle;
  if (bundle.empty()) {
    auto cwd = fs::AbsolutePath(".");
    if (cwd.ok()) bundle = *cwd;
  }
  int rc = 0;
  auto warn = [](const std::string& m) {
    std::fprintf(stderr, "delete: %s\n", m.c_str());
  };
  if (!bundle.empty()) {
    // The serving shim, if it is somehow still there (hung), then its VM.
    if (auto shim = fs::ReadFile(fs::JoinPath(bundle, "shim.identity")); shim.ok()) {
      if (auto id = proc::IdentityFromText(*shim); id.ok()) StopService(*id);
    }
  }
  if (!f.id.empty()) {
    std::string owner = sandbox::ContainerdOwner(f.address, f.ns);
    if (Status st = sandbox::RemoveVmLeftovers(f.id, owner); !st.ok()) warn(st.message());
    // Only the shim's own id names a socket (a pod container shares the sandbox's).
    if (!bundle.empty() && fs::Exists(fs::JoinPath(bundle, "shim.pid"))) {
      unlink(SocketPath(f.address, f.ns, f.id).c_str());
    }
  }
  if (!bundle.empty()) UnmountRootfsOf(bundle);
  containerd::task::v2::DeleteResponse resp;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  resp.set_exit_status(128 + SIGKILL);
  resp.mutable_exited_at()->set_seconds(ns / 1000000000);
  resp.mutable_exited_at()->set_nanos(static_cast<int32_t>(ns % 1000000000));
  std::string out;
  resp.SerializeToString(&out);
  if (fwrite(out.data(), 1, out.size(), stdout) != out.size()) rc = 1;
  return rc;
}

}  // namespace kata::shim
