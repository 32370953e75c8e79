// Publishes task events to containerd: ttrpc
// containerd.services.events.ttrpc.v1.Events/Forward on $TTRPC_ADDRESS.
// Publish() only queues; one thread delivers in order, so RPC handlers never
// wait on containerd. Each delivery gets 5 s and up to 5 attempts (with a
// reconnect between them), as containerd's Go shim library does; then the
// event is dropped and logged. Without an address events are only logged
// (kata-runtime's private service, or a CRI-O style caller).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ttrpc/client.h"

namespace kata::shim {

// Topics (containerd runtime/events.go).
inline constexpr const char* kTopicCreate = "/tasks/create";
inline constexpr const char* kTopicStart = "/tasks/start";
inline constexpr const char* kTopicExit = "/tasks/exit";
inline constexpr const char* kTopicDelete = "/tasks/delete";
inline constexpr const char* kTopicExecAdded = "/tasks/exec-added";
inline constexpr const char* kTopicExecStarted = "/tasks/exec-started";
inline constexpr const char* kTopicOOM = "/tasks/oom";
inline constexpr const char* kTopicPaused = "/tasks/paused";
inline constexpr const char* kTopicResumed = "/tasks/resumed";

class EventPublisher {
 public:
  EventPublisher(std::string ttrpc_address, std::string ns);
  ~EventPublisher();  // delivers what is queued (for at most ~2 s), then stops
  EventPublisher(const EventPublisher&) = delete;
  EventPublisher& operator=(const EventPublisher&) = delete;

  // `type_url` is the event's bare proto name, e.g. "containerd.events.TaskExit".
  void Publish(const std::string& topic, const std::string& type_url, const std::string& value);
  template <typename Msg>
  void Publish(const std::string& topic, const std::string& type_url, const Msg& m) {
    std::string v;
    m.SerializeToString(&v);
    Publish(topic, type_url, v);
  }

 private:
  struct Item {
    std::string topic, type_url, value;
    std::chrono::system_clock::time_point at;
  };
  void Loop();
  bool Deliver(const Item& item);

  std::string address_;
  std::string ns_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stop_deadline_;
  std::unique_ptr<ttrpc::Client> client_;  // publisher thread only
  std::thread thread_;
};

}  // namespace kata::shim
