#include "sandbox/port_forward.h"

#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/fs.h"
#include "common/log.h"

namespace kata::sandbox {
namespace {

// Runs an nft script through libnftables; the error names what failed.
Status RunNft(const std::string& script) {
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (ctx == nullptr) return Error(Code::kInternal, "nftables: cannot create a context");
  nft_ctx_buffer_output(ctx);
  nft_ctx_buffer_error(ctx);
  int rc = nft_run_cmd_from_buffer(ctx, script.c_str());
  std::string err = nft_ctx_get_error_buffer(ctx);
  nft_ctx_free(ctx);
  if (rc != 0) return Error(Code::kInternal, "nftables: " + err);
  return Status::Ok();
}

Result<uint16_t> OriginalPort(int conn) {
  sockaddr_in dst = {};
  socklen_t len = sizeof dst;
  if (getsockopt(conn, SOL_IP, SO_ORIGINAL_DST, &dst, &len) != 0) return ErrnoError("original destination");
  return ntohs(dst.sin_port);
}

}  // namespace

Status InstallLoopbackRedirect(uint16_t port) {
  std::string p = std::to_string(port);
  std::string t = std::string("ip ") + kPortForwardTable;
  return RunNft("add table " + t + "\n" +
                "add chain " + t + " output { type nat hook output priority -100 ; }\n" +
                "add rule " + t + " output ip daddr 127.0.0.0/8 tcp dport != " + p + " redirect to :" + p + "\n");
}

Status RemoveLoopbackRedirect() { return RunNft(std::string("delete table ip ") + kPortForwardTable + "\n"); }

Result<std::unique_ptr<PortForwarder>> PortForwarder::Start(const NetNs& netns, AgentClient& agent) {
  std::unique_ptr<PortForwarder> pf(new PortForwarder(netns, agent));
  // A socket stays in the namespace it was made in: made there, served from here.
  RETURN_IF_ERROR(netns.Run([&]() -> Status {
    pf->listener_ = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!pf->listener_.valid()) return ErrnoError("socket");
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(pf->listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return ErrnoError("bind 127.0.0.1");
    if (listen(pf->listener_.get(), 64) != 0) return ErrnoError("listen");
    if (getsockname(pf->listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return ErrnoError("getsockname");
    pf->listen_port_ = ntohs(addr.sin_port);
    return InstallLoopbackRedirect(pf->listen_port_);
  }).Wrap("set up port forwarding in the pod network"));
  pf->acceptor_ = std::thread(&PortForwarder::AcceptLoop, pf.get());
  return pf;
}

PortForwarder::~PortForwarder() {
  stopping_ = true;
  if (listener_.valid()) shutdown(listener_.get(), SHUT_RDWR);  // wakes accept()
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::unique_lock<std::mutex> lock(mu_);
    for (const auto& [conn, stream] : conns_) {
      shutdown(conn, SHUT_RDWR);  // wakes HostToGuest
      if (stream != 0) (void)agent_.PortForwardClose(stream);  // wakes GuestToHost
    }
    relays_done_.wait(lock, [this] { return relays_ == 0; });
  }
  if (listen_port_ != 0) {
    Status st = netns_.Run(RemoveLoopbackRedirect);
    if (!st.ok()) log::Warn("port forwarding: " + st.message());
  }
}

void PortForwarder::AcceptLoop() {
  while (!stopping_) {
    UniqueFd conn(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (!stopping_) log::Warn("port forwarding: accept: " + std::string(strerror(errno)));
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    conns_[conn.get()] = 0;
    relays_++;
    std::thread(&PortForwarder::Relay, this, std::move(conn)).detach();  // the destructor waits for relays_ == 0
  }
}

void PortForwarder::Relay(UniqueFd owned) {
  int conn = owned.get();
  auto port = OriginalPort(conn);
  Result<uint64_t> stream = port.ok() ? agent_.PortForwardConnect(*port) : Result<uint64_t>(port.status());
  if (stream.ok()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      conns_[conn] = *stream;
      if (stopping_) (void)agent_.PortForwardClose(*stream);  // the destructor saw 0 here
    }
    std::thread up(&PortForwarder::HostToGuest, this, conn, *stream);
    GuestToHost(conn, *stream);
    up.join();
    Status st = agent_.PortForwardClose(*stream);
    (void)st;
  } else {
    // The client sees its connection reset: what a closed port gives.
    log::Info("port forwarding: " + stream.status().message());
  }
  std::lock_guard<std::mutex> lock(mu_);
  conns_.erase(conn);
  owned.reset();  // under mu_: the destructor shuts down only what conns_ lists
  if (--relays_ == 0) relays_done_.notify_all();
}

void PortForwarder::GuestToHost(int conn, uint64_t stream) {
  while (true) {
    auto data = agent_.PortForwardRead(stream);
    if (!data.ok() || data->empty() || !fs::SendAll(conn, *data)) break;
  }
  // The guest side is done: the client reads EOF, and a client that keeps
  // sending after that gets its writes refused by the guest (HostToGuest ends).
  shutdown(conn, SHUT_WR);
}

void PortForwarder::HostToGuest(int conn, uint64_t stream) {
  char buf[64 * 1024];
  while (true) {
    ssize_t n = recv(conn, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!agent_.PortForwardWrite(stream, std::string(buf, static_cast<size_t>(n))).ok()) {
      shutdown(conn, SHUT_RD);
      return;
    }
  }
  Status st = agent_.PortForwardCloseWrite(stream);
  (void)st;
}

}  // namespace kata::sandbox
