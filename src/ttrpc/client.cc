#include "ttrpc/client.h"

#include <sys/socket.h>
#include <unistd.h>

#include "ttrpc.pb.h"
#include "ttrpc/frame.h"

namespace kata::ttrpc {

Result<std::string> DecodeResponse(const Frame& f) {
  if (f.oversized) return OversizedError(f.length);
  ::ttrpc::Response resp;
  if (!resp.ParseFromString(f.data)) return Error(Code::kInternal, "ttrpc: unmarshal response");
  // Go clients treat a missing status and code 0 alike as success.
  if (resp.has_status() && resp.status().code() != 0) {
    int32_t c = resp.status().code();
    Code code = c > 0 && c <= static_cast<int32_t>(Code::kUnauthenticated) ? static_cast<Code>(c)
                                                                           : Code::kUnknown;
    return Error(code, resp.status().message());
  }
  return std::move(*resp.mutable_payload());
}

Client::Client(int fd) : fd_(fd) { reader_ = std::thread([this] { ReadLoop(); }); }

Client::~Client() { Close(); }

bool Client::closed() const {
  std::lock_guard lk(mu_);
  return closed_;
}

void Client::MarkClosed(const Status& why) {
  if (closed_) return;
  closed_ = true;
  closed_status_ = Error(Code::kUnavailable, why.message() == "connection closed"
                                                 ? "ttrpc: connection closed"
                                                 : "ttrpc: connection closed: " + why.message());
  for (auto& [id, p] : pending_) {
    p->result = closed_status_;
    p->done = true;
  }
  pending_.clear();
  cv_.notify_all();
}

void Client::Close() {
  {
    std::lock_guard lk(mu_);
    MarkClosed(Error(Code::kUnavailable, "closed by client"));
  }
  std::call_once(teardown_, [this] {
    ::shutdown(fd_.get(), SHUT_RDWR);  // wakes the reader's blocking read()
    if (reader_.joinable()) reader_.join();
    std::lock_guard wl(write_mu_);
    fd_.reset();
  });
}

void Client::ReadLoop() {
  for (;;) {
    // No deadline inside a reply: a server that stalls mid-frame (a VM
    // paused for a snapshot) may well go on later; meanwhile each pending
    // Call is bounded by its own timeout.
    Result<Frame> f = ReadFrame(fd_.get(), kNoFrameTimeout);
    if (!f.ok()) {
      std::lock_guard lk(mu_);
      MarkClosed(f.status());
      return;
    }
    if (f->type != kResponse) continue;  // no streaming in ttrpc v1.1; ignore
    Result<std::string> result = DecodeResponse(*f);
    std::lock_guard lk(mu_);
    auto it = pending_.find(f->stream_id);
    if (it == pending_.end()) continue;  // its caller timed out: drop the late reply
    it->second->result = std::move(result);
    it->second->done = true;
    pending_.erase(it);
    cv_.notify_all();
  }
}

Result<std::string> Client::Call(const std::string& service, const std::string& method,
                                 const std::string& payload, std::chrono::milliseconds timeout,
                                 const Metadata& metadata) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  ::ttrpc::Request req;
  req.set_service(service);
  req.set_method(method);
  req.set_payload(payload);
  // The server derives its handler deadline from this (ttrpc getRequestContext).
  if (timeout.count() > 0) req.set_timeout_nano(std::chrono::nanoseconds(timeout).count());
  for (const auto& [k, v] : metadata) {
    ::ttrpc::KeyValue* kv = req.add_metadata();
    kv->set_key(k);
    kv->set_value(v);
  }
  Frame frame{.stream_id = 0, .type = kRequest, .flags = 0, .data = {}};
  req.SerializeToString(&frame.data);

  Pending p;
  {
    std::lock_guard lk(mu_);
    if (closed_) return closed_status_;
    frame.stream_id = next_id_;
    next_id_ += 2;
    pending_[frame.stream_id] = &p;
  }
  Status sent;
  {
    std::lock_guard wl(write_mu_);
    sent = !fd_.valid() ? Error(Code::kUnavailable, "ttrpc: connection closed") : WriteFrame(fd_.get(), frame);
    // A failed write may have left half a frame behind: the stream is unusable.
    // Shutting it down lets the reader fail every pending call.
    if (!sent.ok() && sent.code() != Code::kResourceExhausted && fd_.valid()) {
      ::shutdown(fd_.get(), SHUT_RDWR);
    }
  }
  std::unique_lock lk(mu_);
  if (!sent.ok()) {
    pending_.erase(frame.stream_id);
    if (p.done) return std::move(p.result);  // the connection died meanwhile: say so
    if (sent.code() == Code::kResourceExhausted) return sent;
    return Error(Code::kUnavailable, sent.message());
  }
  auto done = [&p] { return p.done; };
  if (timeout.count() <= 0) {
    cv_.wait(lk, done);
  } else if (!cv_.wait_until(lk, deadline, done)) {
    pending_.erase(frame.stream_id);
    return Error(Code::kDeadlineExceeded,
                 "ttrpc: " + service + "/" + method + ": context deadline exceeded");
  }
  return std::move(p.result);
}

}  // namespace kata::ttrpc
