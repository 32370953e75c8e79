// Spawning and supervising host processes (the VMM, the sandbox service).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace kata::proc {

struct SpawnOptions {
  // fds for the child's 0/1/2; -1 means /dev/null.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  bool new_session = false;    // setsid(): survive the caller's terminal/process group
  bool die_with_parent = false;  // PR_SET_PDEATHSIG(SIGKILL), tied to the spawning THREAD
  // Double fork: the child is reparented to init (or the nearest subreaper)
  // and outlives the caller, which cannot wait for it (watch it with a
  // pidfd). For VMs of the VM cache, handed from one process to another.
  bool detach = false;
  std::vector<std::string> env;  // empty = inherit
  std::string executable;        // binary to run when it differs from argv[0] (OCI hooks)
  int netns_fd = -1;             // network namespace to enter before exec (the VMM joins the pod's)
  int mount_ns_fd = -1;          // mount namespace to enter before exec (the sandbox's share: vmm/share_namespace.h)
  // Become the child's fds 3, 4, ... (inherited across exec), e.g. a
  // listening socket handed to a daemon (virtiofsd --fd=3).
  std::vector<int> pass_fds;
  // Runs in the child just before exec, after the set-up above (the VMM's
  // confinement). The parent is multithreaded: only work that is safe after
  // fork (syscalls; glibc's fork keeps malloc usable). 0, or an errno that
  // fails the spawn as an exec failure would.
  std::function<int()> before_exec;
};

// fork+exec; reports an exec failure (e.g. missing binary) as an error instead
// of a child that exits 127.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& opts);
// Exit status as a shell reports it: code, or 128+signal.
int DecodeWaitStatus(int status);
// Running (not a zombie).
bool Alive(pid_t pid);
// Closes every fd >= lowest except those listed (before exec or in daemons).
void CloseFdsFrom(int lowest, const std::vector<int>& keep = {});

// A pid file's text without trailing blanks; "" if unreadable.
std::string ReadPidFile(const std::string& path);
// The pid in `pid_text` if it is a live process whose executable path
// contains `needle` (a recycled pid is not killed); 0 otherwise.
pid_t LiveProcess(const std::string& pid_text, const std::string& needle);
// Clean-up of a dead sandbox's processes: gives `pid` `grace` to exit by
// itself, then SIGKILLs it and waits (up to 5 s) until it is gone. pid <= 0
// does nothing.
void KillAndWait(pid_t pid, const std::string& what, std::chrono::milliseconds grace = std::chrono::milliseconds(0));

}  // namespace kata::proc
