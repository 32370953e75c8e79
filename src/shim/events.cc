#include "shim/events.h"

#include "common/log.h"
#include "events.pb.h"
#include "ttrpc/socket.h"

namespace kata::shim {
namespace {

constexpr const char* kEventsService = "containerd.services.events.ttrpc.v1.Events";
constexpr int kAttempts = 5;

std::string StripUnix(const std::string& a) { return a.rfind("unix://", 0) == 0 ? a.substr(7) : a; }

}  // namespace

EventPublisher::EventPublisher(std::string ttrpc_address, std::string ns)
    : address_(StripUnix(ttrpc_address)), ns_(std::move(ns)) {
  thread_ = std::thread(&EventPublisher::Loop, this);
}

EventPublisher::~EventPublisher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    stop_deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  }
  cv_.notify_all();
  thread_.join();
}

void EventPublisher::Publish(const std::string& topic, const std::string& type_url, const std::string& value) {
  log::Info("event " + topic + " (" + type_url + ")");
  if (address_.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= 4096) {
      log::Warn("event queue full, dropping " + topic);
      return;
    }
    queue_.push_back(Item{topic, type_url, value, std::chrono::system_clock::now()});
  }
  cv_.notify_all();
}

bool EventPublisher::Deliver(const Item& item) {
  containerd::events::ForwardRequest req;
  auto* env = req.mutable_envelope();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(item.at.time_since_epoch()).count();
  env->mutable_timestamp()->set_seconds(ns / 1000000000);
  env->mutable_timestamp()->set_nanos(static_cast<int32_t>(ns % 1000000000));
  env->set_namespace_(ns_);
  env->set_topic(item.topic);
  env->mutable_event()->set_type_url(item.type_url);
  env->mutable_event()->set_value(item.value);
  kata::wkt::Empty resp;
  Status last;
  for (int attempt = 0; attempt < kAttempts; attempt++) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_ && std::chrono::steady_clock::now() > stop_deadline_) break;
    }
    if (!client_ || client_->closed()) {
      auto fd = ttrpc::DialUnix(address_);
      if (!fd.ok()) {
        last = fd.status();
        std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
        continue;
      }
      client_ = std::make_unique<ttrpc::Client>(*fd);
    }
    last = client_->Call(kEventsService, "Forward", req, &resp, std::chrono::seconds(5),
                         {{"containerd-namespace-ttrpc", ns_}});
    if (last.ok()) return true;
    if (last.code() != Code::kUnavailable && last.code() != Code::kDeadlineExceeded) break;  // refused: no retry
    client_.reset();
  }
  log::Warn("publish " + item.topic + " to " + address_ + ": " + last.message());
  return false;
}

void EventPublisher::Loop() {
  while (true) {
    Item item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;
      if (stopping_ && std::chrono::steady_clock::now() > stop_deadline_) break;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    Deliver(item);
  }
  if (client_) client_->Close();
}

}  // namespace kata::shim
