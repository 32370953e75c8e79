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

// The pod's interfaces with their addresses and routes, ordered by name
// (eth0 before eth1 before eth10): every interface that is up and is a veth,
// macvlan, ipvlan or tap (what CNI, podman and docker put in a pod), except
// loopback and our own taps. A namespace that also holds an interface that
// is up and of another kind (a physical NIC, a bridge, a bond: the host's
// namespace or one like it) is refused with an error naming it: mirroring
// such an interface would steal its traffic from the host.
// Call with a socket connected inside the namespace.
Result<std::vector<PodInterface>> ScanPodNetwork(nl_sock* sk);

// What mirroring added to a pod interface, so that teardown (or, after a
// crash, the next `delete`) removes exactly that and nothing else.
struct Mirror {
  int ifindex = 0;
  std::string name;
  // The interface had an ingress qdisc before: only our filter is removed.
  bool qdisc_existed = false;
};

// The record for mirroring `veth_ifindex`, taken before anything is added.
Result<Mirror> PlanMirror(nl_sock* sk, int veth_ifindex, const std::string& name);
// Brings the tap up with the veth's MTU and redirects each one's ingress to
// the other's egress. The tap's side goes with the tap (the VMM's: it
// vanishes when the VMM exits); the veth's side is undone by RemoveMirror.
Status MirrorVethAndTap(nl_sock* sk, const Mirror& veth, const std::string& tap_name, unsigned mtu);
// Removes from the veth what MirrorVethAndTap added: the ingress qdisc with
// its filters, or only our filter when the qdisc was there before. An
// interface that is gone, or has another name now, is left alone.
Status RemoveMirror(nl_sock* sk, const Mirror& veth);

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
