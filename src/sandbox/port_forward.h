// containerd's CRI port forward (kubectl port-forward; critest's "port
// forward" [Conformance]) dials localhost:PORT inside the pod's network
// namespace on the host. With a VM, nothing listens there: the pod's
// servers are in the guest. So for a CRI pod the sandbox keeps, in the pod
// namespace, one listener on 127.0.0.1 and an nftables rule that redirects
// every TCP connection to 127.0.0.0/8 made in that namespace to it; each
// accepted connection learns its original port (SO_ORIGINAL_DST) and is
// relayed to 127.0.0.1:PORT in the guest through the agent
// (proto/port_forward.proto). Nothing but containerd's port forward makes
// connections in a pod namespace on the host: the guest is the endpoint of
// all of the pod's traffic (sandbox/network.h).
//
// The table (ip kata_port_forward) lives in the pod namespace: removed at
// teardown, and gone with the namespace if the shim was killed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <map>
#include <thread>

#include "common/status.h"
#include "common/unique_fd.h"
#include "sandbox/agent_client.h"
#include "sandbox/netns.h"

namespace kata::sandbox {

inline constexpr const char* kPortForwardTable = "kata_port_forward";

class PortForwarder {
 public:
  // Listens in `netns` and installs the redirect; `agent` and `netns` must
  // outlive the forwarder.
  static Result<std::unique_ptr<PortForwarder>> Start(const NetNs& netns, AgentClient& agent);
  // Stops accepting, ends every relay, removes the table.
  ~PortForwarder();
  uint16_t listen_port() const { return listen_port_; }

 private:
  PortForwarder(const NetNs& netns, AgentClient& agent) : netns_(netns), agent_(agent) {}
  void AcceptLoop();
  // One accepted connection, both directions, until both ends are done.
  void Relay(UniqueFd conn);
  void GuestToHost(int conn, uint64_t stream);
  void HostToGuest(int conn, uint64_t stream);

  const NetNs& netns_;
  AgentClient& agent_;
  UniqueFd listener_;
  uint16_t listen_port_ = 0;
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable relays_done_;
  // Open relayed connections and their guest streams (0 until connected):
  // shut down and closed to end them.
  std::map<int, uint64_t> conns_;
  int relays_ = 0;
};

// Adds (or removes) the redirect of TCP to 127.0.0.0/8, except `port`
// itself, to 127.0.0.1:port. Call inside the namespace.
Status InstallLoopbackRedirect(uint16_t port);
Status RemoveLoopbackRedirect();

}  // namespace kata::sandbox
