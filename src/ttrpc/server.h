// ttrpc server with containerd/ttrpc v1.1 semantics: unary methods looked up
// by (service, method); every request runs on its own thread so a handler
// that blocks for minutes (WaitProcess, ReadStdout) never stalls the others;
// replies go back in completion order, matched by stream id.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "ttrpc/frame.h"
#include "ttrpc/metadata.h"
#include "ttrpc/socket.h"

namespace kata::ttrpc {

inline constexpr int kMaxInFlightPerConnection = 1024;

struct CallContext {
  std::string service;
  std::string method;
  Metadata metadata;  // keys may repeat (e.g. containerd-namespace-ttrpc)
  // now + timeout_nano when the client set one; handlers may give up after it.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

struct ConnectionOptions {
  // The fd is the guest end of a virtio-serial port (a character device):
  // read() returns 0 and poll() reports POLLHUP while the host end is not
  // connected, and the host may reconnect later. EOF then does not end
  // serving: the partial frame is dropped, replies to the old host session
  // are discarded, and we wait (sleeping, not spinning) for data again.
  bool reconnecting_device = false;
  // Rest of a frame after its first byte (ReadFrame); a stalled peer's
  // connection is dropped (a device's partial frame is, as after EOF).
  std::chrono::milliseconds frame_timeout = kFrameReadTimeout;
  // Requests of this connection whose handler is still running; one more is
  // answered ResourceExhausted. Every handler has a thread, so this bounds
  // what one peer can make us hold. High, because the agent serves long
  // calls: a guest process keeps WaitProcess, ReadStdout and ReadStderr in
  // flight, so 1024 is ~340 processes per sandbox.
  int max_in_flight = kMaxInFlightPerConnection;
};

class Server {
 public:
  using Handler = std::function<Result<std::string>(const CallContext& ctx, const std::string& payload)>;

  Server();
  ~Server();  // Shutdown(); serving threads keep only shared state alive
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void Register(const std::string& service, const std::string& method, Handler handler);

  // Serves one connection (takes ownership of fd) on the calling thread until
  // EOF, a read error or Shutdown(); then closes fd. Handlers still running
  // afterwards finish, but their replies are dropped.
  void ServeConnection(int fd, ConnectionOptions opts = {});

  // Accepts connections (one thread each) until Shutdown(); takes ownership of
  // listen_fd and closes it on return.
  void ServeListener(int listen_fd);

  // Stops the accept loop and all connections of this server (sockets are
  // shut down; a device connection, whose read() cannot be interrupted, stops
  // after its next frame or disconnect).
  void Shutdown();

  struct State;  // shared with serving threads, which may outlive the Server

 private:
  std::shared_ptr<State> state_;
};

// Adapts a typed handler: payload unmarshal failure is Internal, as in ttrpc.
template <typename Req, typename Resp>
Server::Handler TypedHandler(std::function<Result<Resp>(const CallContext&, const Req&)> fn) {
  return [fn = std::move(fn)](const CallContext& ctx, const std::string& payload) -> Result<std::string> {
    Req req;
    if (!req.ParseFromString(payload)) {
      return Error(Code::kInternal, "ttrpc: unmarshal " + ctx.service + "/" + ctx.method + " request");
    }
    ASSIGN_OR_RETURN(Resp resp, fn(ctx, req));
    std::string out;
    resp.SerializeToString(&out);
    return out;
  };
}

// A named handler: `service`/`method` served by self->*fn, a method that
// takes the request (the services' tables: shim/task_service.cc,
// agent/agent_service.cc).
template <typename Self, typename Req, typename Resp>
void Bind(Server& server, const std::string& service, const std::string& method, Self* self,
          Result<Resp> (Self::*fn)(const Req&)) {
  server.Register(service, method,
                  TypedHandler<Req, Resp>([self, fn](const CallContext&, const Req& req) { return (self->*fn)(req); }));
}

}  // namespace kata::ttrpc
