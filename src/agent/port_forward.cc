#include "agent/port_forward.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "agent/rpc_handlers.h"
#include "common/fs.h"
#include "port_forward.pb.h"

namespace kata::agent {
namespace {

constexpr const char* kService = "kata.portforward.PortForward";
constexpr uint32_t kMaxReadChunk = 256 * 1024;  // one reply stays far below the ttrpc frame cap

namespace pf = kata::portforward;

}  // namespace

Result<uint64_t> PortForwardStreams::Connect(uint32_t port) {
  if (port == 0 || port > 65535) return Error(Code::kInvalidArgument, "port " + std::to_string(port) + " is not a TCP port");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (streams_.size() >= kMaxStreams) {
      return Error(Code::kResourceExhausted, std::to_string(kMaxStreams) + " forwarded connections are open already");
    }
  }
  UniqueFd sock(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return ErrnoError("socket");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  while (connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno == EINTR) continue;
    return ErrnoError("connect to 127.0.0.1:" + std::to_string(port) + " in the guest");
  }
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t id = next_++;
  streams_[id] = std::make_shared<Stream>(Stream{std::move(sock)});
  return id;
}

Result<std::shared_ptr<PortForwardStreams::Stream>> PortForwardStreams::Find(uint64_t stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return Error(Code::kNotFound, "no forwarded connection " + std::to_string(stream));
  return it->second;
}

Result<std::string> PortForwardStreams::Read(uint64_t stream, uint32_t len) {
  ASSIGN_OR_RETURN(std::shared_ptr<Stream> s, Find(stream));
  std::string buf(std::clamp(len, 1u, kMaxReadChunk), '\0');
  while (true) {
    ssize_t n = recv(s->sock.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ECONNRESET) n = 0;  // the peer went away: end of stream for the host
    if (n < 0) return ErrnoError("read forwarded connection " + std::to_string(stream));
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
}

Status PortForwardStreams::Write(uint64_t stream, const std::string& data) {
  ASSIGN_OR_RETURN(std::shared_ptr<Stream> s, Find(stream));
  if (!fs::SendAll(s->sock.get(), data)) return ErrnoError("write forwarded connection " + std::to_string(stream));
  return Status::Ok();
}

Status PortForwardStreams::CloseWrite(uint64_t stream) {
  ASSIGN_OR_RETURN(std::shared_ptr<Stream> s, Find(stream));
  if (shutdown(s->sock.get(), SHUT_WR) != 0 && errno != ENOTCONN) return ErrnoError("shut down forwarded connection");
  return Status::Ok();
}

Status PortForwardStreams::Close(uint64_t stream) {
  std::shared_ptr<Stream> s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = streams_.find(stream);
    if (it == streams_.end()) return Status::Ok();
    s = std::move(it->second);
    streams_.erase(it);
  }
  // Wakes a Read blocked on it; the fd closes with the last reference.
  shutdown(s->sock.get(), SHUT_RDWR);
  return Status::Ok();
}

void PortForwardStreams::Register(ttrpc::Server& server) {
  server.Register(kService, "Connect",
                  TypedHandler<pf::ConnectRequest, pf::ConnectResponse>(
                      [this](const CallContext&, const pf::ConnectRequest& req) -> Result<pf::ConnectResponse> {
                        ASSIGN_OR_RETURN(uint64_t id, Connect(req.port()));
                        pf::ConnectResponse r;
                        r.set_stream(id);
                        return r;
                      }));
  server.Register(kService, "Read",
                  TypedHandler<pf::ReadRequest, pf::ReadResponse>(
                      [this](const CallContext&, const pf::ReadRequest& req) -> Result<pf::ReadResponse> {
                        ASSIGN_OR_RETURN(std::string data, Read(req.stream(), req.len()));
                        pf::ReadResponse r;
                        r.set_data(std::move(data));
                        return r;
                      }));
  server.Register(kService, "Write",
                  TypedHandler<pf::WriteRequest, Empty>([this](const CallContext&, const pf::WriteRequest& req) -> Result<Empty> {
                    RETURN_IF_ERROR(Write(req.stream(), req.data()));
                    return Empty();
                  }));
  server.Register(kService, "CloseWrite",
                  TypedHandler<pf::StreamRequest, Empty>([this](const CallContext&, const pf::StreamRequest& req) -> Result<Empty> {
                    RETURN_IF_ERROR(CloseWrite(req.stream()));
                    return Empty();
                  }));
  server.Register(kService, "Close",
                  TypedHandler<pf::StreamRequest, Empty>([this](const CallContext&, const pf::StreamRequest& req) -> Result<Empty> {
                    RETURN_IF_ERROR(Close(req.stream()));
                    return Empty();
                  }));
}

}  // namespace kata::agent
