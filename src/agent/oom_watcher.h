// OOM kills in the containers' cgroups, for the host's GetOOMEvent long poll
// (the shim publishes them as containerd's TaskOOM, which CRI turns into the
// container's "OOMKilled" reason). cgroup v2 counts them in memory.events
// ("oom_kill N") and signals a change of that file to inotify.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "common/unique_fd.h"

namespace kata::agent {

class OomWatcher {
 public:
  OomWatcher() = default;
  ~OomWatcher();
  // Starts following `cgroup_dir`/memory.events for container `id`.
  Status Watch(const std::string& id, const std::string& cgroup_dir);
  // Stops following it (the container is being removed). An OOM kill already
  // queued for it is still delivered.
  void Unwatch(const std::string& id);
  // Blocks until a container had an OOM kill; returns its id.
  std::string Next();

  // "oom_kill N" of a memory.events text; 0 when absent.
  static uint64_t OomKills(const std::string& memory_events);

 private:
  struct Watched {
    std::string id;
    std::string events_path;
    uint64_t oom_kills = 0;
  };
  Status StartThread();
  void Loop();
  void Check(int wd);

  std::mutex mu_;
  std::condition_variable cv_;
  UniqueFd inotify_;
  std::thread thread_;
  std::map<int, Watched> by_wd_;
  std::deque<std::string> pending_;
};

}  // namespace kata::agent
