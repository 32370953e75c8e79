// The pod network, Kata's "tcfilter" model: the VMM's tap device sits next
// to the pod's veth (made by CNI, podman or docker) in the pod's network
// namespace; tc mirrors every frame between the two, and the guest NIC takes
// the veth's name, MAC, MTU, addresses and routes. The pod's network stack on
// the host never sees a packet: the guest kernel is the endpoint.
#pragma once

#include <netlink/netlink.h>

#include <string>
#include <vector>

#include "common/status.h"
#include "proto/agent.pb.h"
#include "vmm/hypervisor.h"

namespace kata::sandbox {

constexpr const char* kTapName = "tap0_kata";

struct PodInterface {
  int ifindex = 0;        // the veth, in the pod namespace
  grpc::Interface iface;  // as the guest should have it (device is left for the caller)
  grpc::Routes routes;    // the routes through it, kernel-made ones left out
};

// The pod's interfaces (everything but loopback and our taps) with their
// addresses and routes, ordered by name (eth0 before eth1 before eth10).
// Call with a socket connected inside the namespace.
Result<std::vector<PodInterface>> ScanPodNetwork(nl_sock* sk);

// Brings the tap up with the veth's MTU and redirects each one's ingress to
// the other's egress.
Status MirrorVethAndTap(nl_sock* sk, int veth_ifindex, const std::string& tap_name, unsigned mtu);

// Moves the link `name` (the VMM's tap) into the namespace `netns_fd`. The
// VMM keeps its tap fd: frames follow the device, not the VMM's namespace.
// Call with a socket connected inside the namespace the link is in.
Status MoveLinkToNetns(nl_sock* sk, const std::string& name, int netns_fd);

// The MAC every guest NIC boots with (locally administered). It never
// reaches a wire: the NIC stays down until the agent gives it the veth's
// MAC. Being constant, VM templates and their clones agree on it (the MAC
// is device state that a clone restores from the template).
constexpr const char* kGuestBootMac = "02:00:00:00:00:01";

// The NICs a sandbox VM has from boot (microvm cannot hotplug). Every VM has
// NIC 0 (tap0_kata, kGuestBootMac), connected or not, so that booted VMs,
// template clones and cached VMs all have the same devices. A pod whose
// namespace holds more interfaces when its VM starts (podman or CNI with
// several networks) boots with one NIC per interface: NIC i has tap
// "tap<i>_kata" and boot MAC 02:00:00:00:00:<i+1> (templates and cached VMs
// have one NIC, so such a pod always boots).
vmm::NetDevice SandboxNic(size_t index = 0);

// How many NICs the VM of a pod network namespace gets: one per interface
// ScanPodNetwork would find in it now (links only: cheap before the boot),
// at least one. Call inside the namespace.
Result<size_t> PodNicCount(nl_sock* sk);

}  // namespace kata::sandbox
