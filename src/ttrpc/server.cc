#include "ttrpc/server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

#include "common/log.h"
#include "common/unique_fd.h"
#include "ttrpc.pb.h"
#include "ttrpc/frame.h"

namespace kata::ttrpc {
namespace {

// One served fd. Shared by the read loop and every handler thread, so a
// handler finishing after the connection ended still finds valid state and
// sees `closed` instead of writing to a recycled fd number.
struct Conn {
  Conn(int f, const ConnectionOptions& o)
      : fd(f), reconnecting_device(o.reconnecting_device), max_in_flight(o.max_in_flight) {}
  const int fd;
  const bool reconnecting_device;
  const int max_in_flight;
  std::atomic<int> in_flight{0};  // handlers running
  std::mutex write_mu;      // one frame at a time on the wire
  bool closed = false;      // guarded by write_mu
  uint64_t generation = 0;  // guarded by write_mu; bumped when a device peer goes away

  void Send(uint32_t stream_id, uint64_t gen, const ::ttrpc::Response& resp) {
    Frame f{.stream_id = stream_id, .type = kResponse, .flags = 0, .data = {}};
    resp.SerializeToString(&f.data);
    if (f.data.size() > kMessageLengthMax) {  // tell the caller instead of leaving it hanging
      Status st = OversizedError(f.data.size());
      ::ttrpc::Response small;
      small.mutable_status()->set_code(static_cast<int32_t>(st.code()));
      small.mutable_status()->set_message(st.message());
      f.data.clear();
      small.SerializeToString(&f.data);
    }
    std::lock_guard lk(write_mu);
    if (closed || gen != generation) return;  // whoever asked is gone
    Status st = WriteFrame(fd, f);
    if (st.ok()) return;
    log::Warn("ttrpc: dropping response on stream " + std::to_string(stream_id) + ": " + st.message());
    // A device write fails while the host is away; that is expected. On a
    // socket a failed write may leave half a frame: end the connection.
    if (!reconnecting_device) ::shutdown(fd, SHUT_RDWR);
  }
};

::ttrpc::Response MakeResponse(const Result<std::string>& r) {
  ::ttrpc::Response resp;
  // Go's server always sets status (code 0 on success); mirror it byte for byte.
  ::ttrpc::RpcStatus* st = resp.mutable_status();
  if (r.ok()) {
    resp.set_payload(r.value());
  } else {
    st->set_code(static_cast<int32_t>(r.status().code()));
    st->set_message(r.status().message());
  }
  return resp;
}

Result<std::string> Invoke(const Server::Handler& h, const CallContext& ctx, const std::string& payload) {
  try {
    return h(ctx, payload);
  } catch (const std::exception& e) {  // a throwing handler must not kill the process
    return Error(Code::kInternal, std::string("ttrpc: handler threw: ") + e.what());
  }
}

// Asks for SIGIO, to this thread only (where it stays blocked), when the
// device's state changes: virtio-console signals a host (re)connect to a
// port opened with O_ASYNC. Best effort: WaitForPeer also polls.
void SignalThisThreadOnChange(int fd) {
  sigset_t io;
  sigemptyset(&io);
  sigaddset(&io, SIGIO);
  pthread_sigmask(SIG_BLOCK, &io, nullptr);
  f_owner_ex owner{F_OWNER_TID, static_cast<pid_t>(syscall(SYS_gettid))};
  if (fcntl(fd, F_SETOWN_EX, &owner) == 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC);
}

// After EOF on a reconnecting device: waits until it is readable again.
// poll() reports POLLHUP (and virtio-console POLLIN too, a read then returns
// EOF) at once while the host is away, so it cannot block: wait between
// polls, until SIGIO (a host connected, or data came) or for 10 ms. Returns
// false when serving should stop.
bool WaitForPeer(int fd, const std::atomic<bool>& stop) {
  SignalThisThreadOnChange(fd);
  sigset_t io;
  sigemptyset(&io);
  sigaddset(&io, SIGIO);
  const timespec tick{0, 10 * 1000 * 1000};
  while (!stop) {
    sigtimedwait(&io, nullptr, &tick);
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, 0);
    if (n < 0 && errno != EINTR) return false;
    if (p.revents & POLLNVAL) return false;
    if (p.revents & POLLIN) return true;
  }
  return false;
}

}  // namespace

struct Server::State {
  std::mutex mu;
  std::map<std::string, std::map<std::string, Handler>> services;
  std::set<std::shared_ptr<Conn>> conns;
  int listen_fd = -1;
  bool shutdown = false;
  std::atomic<bool> stop{false};  // read without mu by device wait loops

  Result<Handler> Resolve(const std::string& service, const std::string& method) {
    std::lock_guard lk(mu);
    auto s = services.find(service);
    if (s == services.end()) return Error(Code::kUnimplemented, "service " + service);
    auto m = s->second.find(method);
    if (m == s->second.end()) return Error(Code::kUnimplemented, "method " + method);
    return m->second;
  }

  // Handles one frame from the read loop; the order of checks is ttrpc v1.1's.
  void Dispatch(const std::shared_ptr<Conn>& conn, uint64_t gen, Frame& f) {
    uint32_t id = f.stream_id;
    auto reject = [&](const Status& st) { conn->Send(id, gen, MakeResponse(st)); };
    if (f.oversized) return reject(OversizedError(f.length));
    if (f.type != kRequest) return;  // "we must ignore this for future compat"
    ::ttrpc::Request req;
    if (!req.ParseFromString(f.data)) {
      return reject(Error(Code::kInvalidArgument, "unmarshal request error"));
    }
    if (id % 2 != 1) {
      return reject(Error(Code::kInvalidArgument, "StreamID must be odd for client initiated streams"));
    }
    Result<Handler> h = Resolve(req.service(), req.method());
    if (!h.ok()) return reject(h.status());

    CallContext ctx{req.service(), req.method(), {}, std::nullopt};
    for (const auto& kv : req.metadata()) ctx.metadata.emplace_back(kv.key(), kv.value());
    if (req.timeout_nano() > 0) {
      ctx.deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(req.timeout_nano());
    }
    // Past the cap the peer hears why. Not reading on until a handler ends
    // instead would deadlock a peer whose running calls (WaitProcess) wait
    // for one it has yet to send (SignalProcess).
    if (conn->in_flight.fetch_add(1) >= conn->max_in_flight) {
      --conn->in_flight;
      return reject(Error(Code::kResourceExhausted, "ttrpc: " + std::to_string(conn->max_in_flight) +
                                                        " requests already in flight on this connection"));
    }
    try {
      std::thread([conn, gen, id, h = std::move(h).value(), ctx = std::move(ctx),
                   payload = std::move(*req.mutable_payload())] {
        ::ttrpc::Response resp = MakeResponse(Invoke(h, ctx, payload));
        --conn->in_flight;  // before the reply: a peer answered may call again at once
        conn->Send(id, gen, resp);
      }).detach();
    } catch (const std::system_error& e) {
      --conn->in_flight;
      reject(Error(Code::kResourceExhausted, std::string("ttrpc: cannot start handler: ") + e.what()));
    }
  }

  // Owns `fd`: closes it when the connection ends.
  void Serve(int fd, ConnectionOptions opts) {
    UniqueFd owned(fd);
    auto conn = std::make_shared<Conn>(fd, opts);
    {
      std::lock_guard lk(mu);
      if (shutdown) return;
      conns.insert(conn);
    }
    uint64_t gen = 0;
    for (;;) {
      Result<Frame> f = ReadFrame(fd, opts.frame_timeout);
      if (f.ok()) {
        Dispatch(conn, gen, f.value());
        if (stop) break;  // Shutdown() cannot wake a read() on a device
        continue;
      }
      Code c = f.status().code();
      bool eof = c == Code::kUnavailable || c == Code::kDataLoss;
      // A stalled peer loses its connection; a device cannot be dropped, so
      // its partial frame is, as when the host goes away mid-frame.
      bool stalled = c == Code::kDeadlineExceeded;
      if (stalled) {
        log::Warn(f.status().message() +
                  (opts.reconnecting_device ? ": partial frame dropped" : ": connection dropped"));
      } else if (!eof) {
        log::Warn("ttrpc: " + f.status().message());
      }
      if (!(eof || stalled) || !opts.reconnecting_device) break;
      {
        // The host session ended: replies still owed to it would confuse the
        // next one (its stream ids restart at 1), so retire them.
        std::lock_guard lk(conn->write_mu);
        conn->generation = ++gen;
      }
      if (!WaitForPeer(fd, stop)) break;
    }
    {
      std::lock_guard lk(mu);
      conns.erase(conn);
    }
    std::lock_guard lk(conn->write_mu);
    conn->closed = true;
    owned.reset();  // under write_mu: no Send or Shutdown can use the number after
  }
};

Server::Server() : state_(std::make_shared<State>()) {}

Server::~Server() { Shutdown(); }

void Server::Register(const std::string& service, const std::string& method, Handler handler) {
  std::lock_guard lk(state_->mu);
  state_->services[service][method] = std::move(handler);
}

void Server::ServeConnection(int fd, ConnectionOptions opts) { state_->Serve(fd, opts); }

void Server::ServeListener(int listen_fd) {
  std::shared_ptr<State> st = state_;
  UniqueFd listener(listen_fd);
  {
    std::lock_guard lk(st->mu);
    if (st->shutdown) return;
    st->listen_fd = listen_fd;
  }
  for (;;) {
    UniqueFd conn(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (st->stop) break;
    if (!conn.valid()) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      log::Warn("ttrpc: accept: " + ErrnoError("accept").message());
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // may pass; don't spin
        continue;
      }
      break;
    }
    try {
      std::thread([st, fd = conn.get()] { st->Serve(fd, {}); }).detach();
      conn.release();  // Serve owns it now
    } catch (const std::system_error& e) {
      log::Warn(std::string("ttrpc: cannot start connection thread: ") + e.what());
    }
  }
  std::lock_guard lk(st->mu);
  st->listen_fd = -1;
  listener.reset();  // under mu: Shutdown no longer sees the number
}

void Server::Shutdown() {
  std::lock_guard lk(state_->mu);
  state_->shutdown = true;
  state_->stop = true;
  // shutdown(2) wakes threads blocked in accept()/read() on these fds; the
  // owners close them (closing here could hand the number to another open).
  if (state_->listen_fd >= 0) ::shutdown(state_->listen_fd, SHUT_RDWR);
  for (const auto& c : state_->conns) {
    std::lock_guard wl(c->write_mu);
    if (!c->closed) ::shutdown(c->fd, SHUT_RDWR);
  }
}

}  // namespace kata::ttrpc
