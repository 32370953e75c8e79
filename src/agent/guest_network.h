// Guest network configuration over netlink: loopback at boot, then the pod
// NIC as the host describes it (UpdateInterface / UpdateRoutes). Every
// container of the sandbox shares the guest's network namespace.
#pragma once

#include "agent.pb.h"
#include "common/status.h"

namespace kata::agent {

Status BringUpLoopback();
// The prefix length in ip.mask ("24"): decimal, 0-32 (IPv4) or 0-128 (IPv6).
Result<int> PrefixLength(const grpc::IPAddress& ip);
// Finds the NIC whose MAC is iface.device, renames it, sets MAC, MTU and
// addresses, and brings it up.
Status ConfigureInterface(const grpc::Interface& iface);
// Adds (or replaces) routes: device routes first, then those via gateways.
Status AddRoutes(const grpc::Routes& routes);

}  // namespace kata::agent
