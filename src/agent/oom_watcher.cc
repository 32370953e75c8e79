#include "agent/oom_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>

#include "common/fs.h"
#include "common/log.h"

namespace kata::agent {

// Bounded: a host that never asks must not make the agent hold an endless
// queue (one entry per OOM kill of a looping container).
constexpr size_t kMaxPending = 256;

OomWatcher::~OomWatcher() {
  // The agent is PID 1 and never destroys it; tests (host --listen mode) do.
  if (thread_.joinable()) thread_.detach();
}

uint64_t OomWatcher::OomKills(const std::string& memory_events) {
  std::istringstream in(memory_events);
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "oom_kill") return value;
  }
  return 0;
}

Status OomWatcher::StartThread() {
  if (inotify_.valid()) return Status::Ok();
  inotify_.reset(inotify_init1(IN_CLOEXEC));
  if (!inotify_.valid()) return ErrnoError("inotify_init1");
  thread_ = std::thread(&OomWatcher::Loop, this);
  return Status::Ok();
}

Status OomWatcher::Watch(const std::string& id, const std::string& cgroup_dir) {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(StartThread());
  std::string path = cgroup_dir + "/memory.events";
  int wd = inotify_add_watch(inotify_.get(), path.c_str(), IN_MODIFY);
  if (wd < 0) return ErrnoError("watch " + path);
  auto text = fs::ReadFile(path);
  by_wd_[wd] = Watched{id, path, text.ok() ? OomKills(*text) : 0};
  return Status::Ok();
}

void OomWatcher::Unwatch(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = by_wd_.begin(); it != by_wd_.end(); ++it) {
    if (it->second.id != id) continue;
    // A last look first: the kill that ended the container may not have
    // been read yet when its removal comes.
    Check(it->first);
    inotify_rm_watch(inotify_.get(), it->first);
    by_wd_.erase(it);
    return;
  }
}

// Called with mu_ held.
void OomWatcher::Check(int wd) {
  auto it = by_wd_.find(wd);
  if (it == by_wd_.end()) return;
  auto text = fs::ReadFile(it->second.events_path);
  if (!text.ok()) return;
  uint64_t kills = OomKills(*text);
  if (kills <= it->second.oom_kills) return;
  it->second.oom_kills = kills;
  log::Info("container " + it->second.id + ": OOM kill in its cgroup (" + std::to_string(kills) + " so far)");
  if (pending_.size() < kMaxPending) pending_.push_back(it->second.id);
  cv_.notify_all();
}

void OomWatcher::Loop() {
  alignas(inotify_event) char buf[4096];
  while (true) {
    ssize_t n = read(inotify_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      Check(ev->wd);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
}

std::string OomWatcher::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !pending_.empty(); });
  std::string id = std::move(pending_.front());
  pending_.pop_front();
  return id;
}

}  // namespace kata::agent
