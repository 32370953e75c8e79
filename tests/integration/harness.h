// Helpers for integration tests that drive the installed binaries against
// real VMs: run a command, make a busybox bundle, check for leaks.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace kata::itest {

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

// GET url with curl, retried for up to `seconds` until it answers; the body
// (trimmed), or "" if it never did.
std::string HttpGet(const std::string& url, int seconds);
// A shell command that serves `body` over HTTP on `port` from inside a
// busybox container (httpd in the foreground, as PID 1).
std::string ServeHttpCommand(const std::string& body_cmd, int port);

// A unique container id for a test.
std::string UniqueId(const std::string& base);

}  // namespace kata::itest
