// The agent's record of containers and their processes, with the pipe ends
// the host reads and writes through ReadStdout/WriteStdin.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/container/launch.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "oci/spec.h"

namespace kata::agent {

// A pipe end owned by the agent; closed once, under lock, so a concurrent
// CloseStdin and WriteStdin cannot race on a reused fd number.
class StdioEnd {
 public:
  explicit StdioEnd(UniqueFd fd = UniqueFd()) : fd_(std::move(fd)) {}
  int fd() const { return fd_.get(); }
  void Close();

 private:
  std::mutex mu_;
  UniqueFd fd_;
};

struct Process {
  // With a terminal: `in` and `out` are the pty master (two fds), `err` is -1
  // and `term` a third fd of the master for TtyWinResize and CloseStdin.
  Process(std::string id, pid_t p, UniqueFd in, UniqueFd out, UniqueFd err, UniqueFd term_fd = UniqueFd())
      : exec_id(std::move(id)),
        pid(p),
        stdin_w(std::move(in)),
        stdout_r(std::move(out)),
        stderr_r(std::move(err)),
        term(std::move(term_fd)),
        tty(term.fd() >= 0) {}  // the member: initialized above
  std::string exec_id;  // "" for the container's init
  pid_t pid = -1;
  StdioEnd stdin_w;
  StdioEnd stdout_r;
  StdioEnd stderr_r;
  StdioEnd term;
  const bool tty;
  std::optional<int> exit_status;  // cached after the first WaitProcess
  bool waited = false;             // WaitProcess has answered (RetireExecIfDone)
  std::mutex mu;
};

struct Container {
  std::string id;
  std::unique_ptr<ContainerProcess> handle;
  std::shared_ptr<Process> init;
  std::map<std::string, std::shared_ptr<Process>> execs;
  bool started = false;
  bool pod_sandbox = false;  // the pod's sandbox container (sandbox_namespaces.h)
  // Its init is the init of a pid namespace of its own: the rest die with it.
  // Otherwise (hostPID, a pod's shared pid namespace) the agent kills the
  // rest of its cgroup when the init exits, as runc's shim does.
  bool own_pidns = false;
  std::string cgroup_dir;  // "" when the guest has no cgroup v2
  nlohmann::json seccomp;  // linux.seccomp, applied to execs too
  std::vector<oci::Device> devices;  // linux.devices: the device filter allows them (device_filter.h)
  std::vector<std::string> shared_volumes;  // destinations of rshared binds (shared_mounts.h)
};

class ProcessTable {
 public:
  Status AddContainer(std::shared_ptr<Container> c);
  Result<std::shared_ptr<Container>> GetContainer(const std::string& id);
  // exec_id "" = the init process.
  Result<std::shared_ptr<Process>> GetProcess(const std::string& id, const std::string& exec_id);
  Status AddExec(const std::string& id, std::shared_ptr<Process> p);
  void RemoveContainer(const std::string& id);
  // An exec is forgotten once the host has both its exit (WaitProcess) and
  // the end of its output (ReadStdout/ReadStderr at EOF), whichever comes
  // last: the host needs nothing more of it, and a long-lived pod's execs
  // (Kubernetes probes) must not pile up fds here.
  void RetireExecIfDone(const std::string& id, const std::shared_ptr<Process>& p);
  std::vector<std::shared_ptr<Container>> All();

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Container>> containers_;
};

}  // namespace kata::agent
