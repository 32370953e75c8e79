// Typed host-side client of the guest agent (grpc.AgentService, grpc.Health)
// over the ttrpc connection to the VM's agent channel.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent.pb.h"
#include "common/status.h"
#include "ttrpc/client.h"

namespace kata::sandbox {

class AgentClient {
 public:
  // Connects to the VMM's agent socket. The VMM creates the socket file a
  // moment before it listens (a busy host widens the gap): refused or
  // missing sockets are retried until `timeout` or until the VM is gone.
  static Result<std::unique_ptr<AgentClient>> Dial(const std::string& socket_path, std::chrono::milliseconds timeout,
                                                   const std::function<bool()>& vm_alive);
  // Polls Health.Check until the agent answers, `vm_alive` turns false, or the
  // timeout passes. Requests sent before the guest opened its port wait in the
  // channel, so a short per-try timeout with retries covers both cases.
  Status WaitReady(std::chrono::milliseconds timeout, const std::function<bool()>& vm_alive);
  // One Health.Check that must be answered within `timeout`.
  Status Check(std::chrono::milliseconds timeout);

  Status CreateSandbox(const grpc::CreateSandboxRequest& req);
  Status DestroySandbox();
  Status CreateContainer(const grpc::CreateContainerRequest& req);
  Status StartContainer(const std::string& id);
  Status RemoveContainer(const std::string& id, uint32_t timeout_s);
  Status ExecProcess(const std::string& id, const std::string& exec_id, const std::string& process_json);
  Status SignalProcess(const std::string& id, const std::string& exec_id, uint32_t signal, bool all);
  Result<int> WaitProcess(const std::string& id, const std::string& exec_id);
  // Empty result = end of stream.
  Result<std::string> ReadStream(const std::string& id, const std::string& exec_id, bool stderr_stream);
  Status WriteStdin(const std::string& id, const std::string& exec_id, const std::string& data);
  // On a terminal process: sends the terminal's EOF character (^D), stdin stays open.
  Status CloseStdin(const std::string& id, const std::string& exec_id);
  // Window size of a terminal process (rows, columns).
  Status TtyWinResize(const std::string& id, const std::string& exec_id, uint32_t rows, uint32_t columns);
  // Freeze / thaw every process of the container (returns once frozen / thawed).
  Status PauseContainer(const std::string& id);
  Status ResumeContainer(const std::string& id);
  // cgroup counters of the container in the guest.
  Result<grpc::StatsContainerResponse> StatsContainer(const std::string& id);
  // `resources_json`: an OCI LinuxResources object.
  Status UpdateContainer(const std::string& id, const std::string& resources_json);
  Status UpdateInterface(const grpc::Interface& iface);
  Result<grpc::GuestDetailsResponse> GetGuestDetails();
  Status UpdateRoutes(const grpc::Routes& routes);
  // VM templating (sandbox/vm_template.h): fresh randomness and wall clock
  // for a clone. `unix_ns`: nanoseconds since the epoch.
  Status ReseedRandomDev(const std::string& data);
  Status SetGuestDateTime(int64_t unix_ns);
  // Blocks until a container's guest cgroup has had an OOM kill; its id.
  Result<std::string> GetOOMEvent();
  // The guest's figures, Prometheus text (untrusted: sandbox/guest_metrics.h filters it).
  Result<std::string> GetMetrics();
  // Brings the guest's online vCPUs to `count`; how many it says are online.
  Result<uint32_t> SetOnlineCpus(uint32_t count);
  // The guest adds these blocks of its RAM (vmm::Hypervisor::GrowMemory).
  Status MemHotplugByProbe(const std::vector<uint64_t>& addresses);
  // The container's mounts below its rshared volumes (mount_mirror.h).
  Result<grpc::ListSharedMountsResponse> ListSharedMounts(const std::string& container_id);
  // Asks the guest to let go of a disk plugged in while it runs (powers its slot off).
  Status ReleaseDisk(const std::string& serial);
  // A direct volume mounted at `guest_path` (a BlockMount's): its usage;
  // growing its file system to `bytes` once the disk is that large.
  Result<grpc::VolumeStatsResponse> GetVolumeStats(const std::string& guest_path);
  Status ResizeVolume(const std::string& guest_path, uint64_t bytes);
  // kata.portforward.PortForward (our own service, sandbox/port_forward.h):
  // a TCP connection to 127.0.0.1:port in the guest, as a stream id.
  Result<uint64_t> PortForwardConnect(uint32_t port);
  Result<std::string> PortForwardRead(uint64_t stream);  // empty = the guest side closed
  Status PortForwardWrite(uint64_t stream, const std::string& data);
  Status PortForwardCloseWrite(uint64_t stream);
  Status PortForwardClose(uint64_t stream);
  void Close() { client_->Close(); }

 private:
  explicit AgentClient(int fd) : client_(std::make_unique<ttrpc::Client>(fd)) {}
  template <typename Req, typename Resp>
  Status Call(const char* method, const Req& req, Resp* resp, std::chrono::milliseconds timeout,
              const char* service = nullptr);  // nullptr: grpc.AgentService
  std::unique_ptr<ttrpc::Client> client_;
};

}  // namespace kata::sandbox
