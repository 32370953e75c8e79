// ttrpc client: unary calls multiplexed over one connection, as containerd's
// Go client does. Many threads may call at once; one reader thread matches
// Response frames to callers by stream id, so replies may arrive in any order.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "common/unique_fd.h"
#include "ttrpc/metadata.h"
#include "ttrpc/socket.h"

namespace kata::ttrpc {

struct Frame;

// What a Response frame carries for its caller: the payload, or the status
// (codes outside gRPC's range become kUnknown). Public for tests and fuzzing.
Result<std::string> DecodeResponse(const Frame& f);

class Client {
 public:
  // Takes ownership of a connected, blocking stream socket.
  explicit Client(int fd);
  ~Client();  // Close()
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends Request{service, method, payload, timeout_nano, metadata} and waits
  // for the Response payload. timeout 0 = wait forever; on expiry returns
  // kDeadlineExceeded and the late Response is dropped. A non-OK RpcStatus
  // becomes a Status with that code and message. Once the connection is gone
  // every pending and later call fails with kUnavailable.
  Result<std::string> Call(const std::string& service, const std::string& method,
                           const std::string& payload, std::chrono::milliseconds timeout,
                           const Metadata& metadata = {});

  // Typed form for protobuf messages (full or lite).
  template <typename Req, typename Resp>
  Status Call(const std::string& service, const std::string& method, const Req& req, Resp* resp,
              std::chrono::milliseconds timeout, const Metadata& metadata = {}) {
    std::string in;
    if (!req.SerializeToString(&in)) {
      return Error(Code::kInternal, "ttrpc: marshal " + service + "/" + method + " request");
    }
    ASSIGN_OR_RETURN(std::string out, Call(service, method, in, timeout, metadata));
    if (!resp->ParseFromString(out)) {
      return Error(Code::kInternal, "ttrpc: unmarshal " + service + "/" + method + " response");
    }
    return Status::Ok();
  }

  // Fails pending calls, stops the reader and closes the fd. Idempotent.
  void Close();
  bool closed() const;

 private:
  struct Pending {
    bool done = false;
    Result<std::string> result = std::string();
  };
  void ReadLoop();
  void MarkClosed(const Status& why);  // requires mu_

  UniqueFd fd_;
  std::mutex write_mu_;  // one frame at a time on the wire; guards fd_ against Close
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint32_t, Pending*> pending_;  // waiters, owned by their Call frames
  uint32_t next_id_ = 1;                  // client streams are odd: 1, 3, 5, ...
  bool closed_ = false;
  Status closed_status_;
  std::once_flag teardown_;
  std::thread reader_;
};

}  // namespace kata::ttrpc
