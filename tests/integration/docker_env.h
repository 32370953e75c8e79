// A private dockerd for integration tests: its own socket, data and exec
// roots under a directory, kata-runtime registered as runtime "kata", and a
// busybox image imported from a local rootfs. Header only (the integration
// CMakeLists builds one executable per *_test.cc).
#pragma once

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace kata::itest {

class PrivateDockerd {
 public:
  static constexpr const char* kImage = "kata-it-busybox";

  explicit PrivateDockerd(const std::string& dir) : dir_(dir), host_("unix://" + dir + "/docker.sock") {}
  ~PrivateDockerd() { Stop(); }

  // Starts dockerd (with `env` added to its environment, which its
  // containerd, shims and kata-runtime inherit), waits until it answers and
  // imports the image.
  bool Start(std::string* why, const std::map<std::string, std::string>& env = {}) {
    CmdResult r = Sh("dockerd -H " + host_ + " --data-root " + dir_ + "/data --exec-root " + dir_ + "/exec --pidfile " +
                         dir_ + "/docker.pid --add-runtime kata=" + Runtime() + " > " + dir_ + "/dockerd.log 2>&1 & echo $!",
                     env);
    pid_ = std::stoi(Trim(r.out));
    if (!WaitUntil([&] { return Docker({"version"}).exit_code == 0; }, 60s)) {
      *why = "dockerd did not start: " + Sh("tail -20 " + dir_ + "/dockerd.log").out;
      return false;
    }
    MakeBundle(dir_ + "/b", {"sh"});
    r = Sh("tar -C " + dir_ + "/b/rootfs -c . | docker -H " + host_ + " import - " + kImage);
    if (r.exit_code != 0) *why = "docker import: " + r.err;
    return r.exit_code == 0;
  }

  // dockerd, then the containerd it manages, then their mounts.
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    WaitUntil([&] { return kill(pid_, 0) != 0; }, 10s);
    if (kill(pid_, 0) == 0) kill(pid_, SIGKILL);
    pid_ = -1;
    // '[c]': a plain pattern matches the shell running pkill too, which then
    // killed itself before the umount.
    std::string containerd = "'[c]ontainerd --config " + dir_ + "'";
    Sh("pkill -f " + containerd);
    WaitUntil([&] { return Sh("pgrep -f " + containerd).exit_code != 0; }, 10s);
    Sh("umount -R " + dir_ + "/data " + dir_ + "/exec 2>/dev/null || true");
  }

  CmdResult Docker(std::vector<std::string> args) const {
    args.insert(args.begin(), {"docker", "-H", host_});
    return itest::Run(args);
  }

 private:
  std::string dir_;
  std::string host_;
  int pid_ = -1;
};

}  // namespace kata::itest
