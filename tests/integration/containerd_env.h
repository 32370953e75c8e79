// A private containerd for integration tests: its own root, state and socket
// under a temp dir, CRI disabled, and a busybox image imported from an OCI
// archive built locally (tests/integration/containerd_make_image.sh). Header
// only (the integration CMakeLists builds one executable per *_test.cc).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace kata::itest {

class PrivateContainerd {
 public:
  static constexpr const char* kNamespace = "kata-it";
  static constexpr const char* kImage = "docker.io/library/kata-it-busybox:latest";

  // `extra_config`: appended to its config.toml (e.g. a [proxy_plugins.X] table).
  explicit PrivateContainerd(const std::string& dir, std::string extra_config = "")
      : dir_(dir), extra_config_(std::move(extra_config)) {}
  ~PrivateContainerd() { Stop(); }

  std::string address() const { return dir_ + "/containerd.sock"; }

  // Writes the config, starts containerd, waits for its socket.
  bool Start(std::string* why) {
    std::ofstream cfg(dir_ + "/config.toml");
    cfg << "version = 2\n"
        << "root = \"" << dir_ << "/root\"\n"
        << "state = \"" << dir_ << "/state\"\n"
        // CRI is not under test here (it wants CNI); the runtime entry below is
        // the snippet docs/containerd.md gives for it.
        << "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
        << "[grpc]\n  address = \"" << address() << "\"\n"
        << "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.kata]\n"
        << "  runtime_type = \"io.containerd.kata.v2\"\n"
        << extra_config_;
    cfg.close();
    pid_ = fork();
    if (pid_ == 0) {
      setsid();
      int log = open((dir_ + "/containerd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      int null = open("/dev/null", O_RDONLY);
      dup2(null, 0);
      dup2(log, 1);
      dup2(log, 2);
      std::string conf = dir_ + "/config.toml";
      execlp("containerd", "containerd", "--config", conf.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    bool up = false;
    WaitUntil(
        [&] {
          if (Ctr({"version"}).exit_code == 0) return up = true;
          int st;
          if (waitpid(pid_, &st, WNOHANG) != pid_) return false;
          pid_ = -1;  // it died: no use waiting
          return true;
        },
        30s, 50ms);
    if (up) return true;
    *why = "containerd did not come up; log: " + Sh("tail -20 " + dir_ + "/containerd.log").out;
    return false;
  }

  // SIGKILL when `crash`, else SIGTERM (then SIGKILL after 10 s).
  void Stop(bool crash = false) {
    if (pid_ <= 0) return;
    kill(pid_, crash ? SIGKILL : SIGTERM);
    if (WaitUntil([&] { return waitpid(pid_, nullptr, WNOHANG) == pid_; }, 10s, 50ms)) {
      pid_ = -1;
      return;
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // ctr against this containerd, bounded by `timeout` so a hang fails the test.
  CmdResult Ctr(const std::vector<std::string>& args, int timeout_s = 120, const std::string& input = "") const {
    std::vector<std::string> argv = {"timeout", "-k", "5", std::to_string(timeout_s), "ctr", "--address", address(),
                                     "-n", kNamespace};
    argv.insert(argv.end(), args.begin(), args.end());
    return Run(argv, {}, input);
  }
  std::string CtrShellPrefix() const {
    return std::string("ctr --address ") + address() + " -n " + kNamespace;
  }

  // Into `snapshotter`'s snapshots ("": containerd's default, overlayfs).
  bool ImportImage(std::string* why, const std::string& snapshotter = "") {
    std::string tar = dir_ + "/image.tar";
    CmdResult mk = Run({RepoDir() + "/tests/integration/containerd_make_image.sh", tar, kImage});
    if (mk.exit_code != 0) {
      *why = "make image: " + mk.err;
      return false;
    }
    std::vector<std::string> import = {"image", "import"};
    if (!snapshotter.empty()) import.insert(import.end(), {"--snapshotter", snapshotter});
    import.push_back(tar);
    CmdResult imp = Ctr(import);
    if (imp.exit_code != 0) *why = "ctr image import: " + imp.out + imp.err;
    return imp.exit_code == 0;
  }

  // Kills and removes every task and container left in the namespace.
  void RemoveAll() {
    CmdResult tasks = Ctr({"task", "ls", "-q"}, 30);
    std::istringstream ts(tasks.out);
    for (std::string id; std::getline(ts, id);) {
      if (id.empty()) continue;
      Ctr({"task", "kill", "-s", "KILL", "--all", id}, 30);
      Ctr({"task", "rm", "-f", id}, 60);
    }
    CmdResult cs = Ctr({"container", "ls", "-q"}, 30);
    std::istringstream cl(cs.out);
    for (std::string id; std::getline(cl, id);) {
      if (!id.empty()) Ctr({"container", "rm", id}, 30);
    }
  }

 private:
  std::string dir_;
  std::string extra_config_;
  pid_t pid_ = -1;
};

}  // namespace kata::itest
