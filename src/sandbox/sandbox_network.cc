// The sandbox's side of the pod network (docs/networking.md): the VM's NICs
// and namespace before the VMM starts, the taps mirrored to the pod's
// interfaces and the guest NICs configured once the agent answers.
#include "sandbox/sandbox.h"

#include <unistd.h>

#include <set>

#include "common/fs.h"

#include "common/log.h"
#include "net/netlink.h"
#include "sandbox/network.h"
#include "sandbox/network_record.h"

namespace kata::sandbox {

// A spec may name any namespace, the host's own included (a shell's
// /proc/<pid>/ns/net): that one is never the pod's network. Mirroring its
// interfaces would redirect every frame the host receives to the VM; as
// upstream Kata, the sandbox treats it as host networking.
Status Sandbox::CheckPodNetns() {
  if (!cfg_.network || cfg_.netns_path.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(NetNs ns, NetNs::Open(cfg_.netns_path));
  if (!ns.IsHost()) return Status::Ok();
  log::Warn("sandbox " + cfg_.id + ": the network namespace " + cfg_.netns_path +
            " is the host's: treated as host networking (the guest has loopback only; "
            "no host interface is touched)");
  cfg_.network = false;
  cfg_.netns_path.clear();
  return Status::Ok();
}

// The VMM joins the pod's network namespace and creates its taps there; the
// NICs must exist from boot (microvm has no hotplug), connected or not. Every
// VM has at least NIC 0, so every VM with one NIC matches the VM template's
// device set: without a pod network (host networking) it sits unconnected in
// a private namespace, and the guest sees only loopback.
Status Sandbox::PrepareNetwork() {
  if (cfg_.network && !cfg_.netns_path.empty()) {
    ASSIGN_OR_RETURN(netns_, NetNs::Open(cfg_.netns_path));
  } else {
    ASSIGN_OR_RETURN(netns_, NetNs::CreateNew());
  }
  cfg_.vm.netns_fd = netns_.fd();
  cfg_.vm.nics.clear();
  for (size_t i = 0; i < nic_count_; i++) cfg_.vm.nics.push_back(SandboxNic(i));
  return Status::Ok();
}

// A pod namespace that podman or CNI filled before the VM starts may hold
// several interfaces (several networks): the VM needs a NIC for each from
// boot. Docker's hook moves its veth in later: one NIC.
Status Sandbox::CountPodNics() {
  nic_count_ = 1;
  if (!cfg_.network || cfg_.netns_path.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(NetNs ns, NetNs::Open(cfg_.netns_path));
  return ns.Run([&]() -> Status {
    ASSIGN_OR_RETURN(net::Socket sk, net::Connect());
    ASSIGN_OR_RETURN(nic_count_, PodNicCount(sk.get()));
    return Status::Ok();
  }).Wrap("count the interfaces of the pod network of sandbox " + cfg_.id);
}

Status Sandbox::ConnectNetwork() {
  // PrepareNetwork gave every VM its NIC and namespace; only a pod network
  // has something to connect.
  if (!cfg_.network || network_connected_) return Status::Ok();
  network_connected_ = true;
  std::vector<PodInterface> found;
  const std::vector<vmm::NetDevice>& nics = cfg_.vm.nics;
  RETURN_IF_ERROR(netns_.Run([&]() -> Status {
    ASSIGN_OR_RETURN(net::Socket sk, net::Connect());
    ASSIGN_OR_RETURN(found, ScanPodNetwork(sk.get()));
    NetworkRecord record{netns_.path(), netns_.Identity().first, netns_.Identity().second, {}};
    for (size_t i = 0; i < found.size() && i < nics.size(); i++) {
      ASSIGN_OR_RETURN(Mirror m, PlanMirror(sk.get(), found[i].ifindex, found[i].iface.name()));
      record.mirrors.push_back(m);
    }
    // Recorded first: whatever happens next, teardown or `delete` undoes it.
    if (!netns_.path().empty()) RETURN_IF_ERROR(SaveNetworkRecord(cfg_.vm.run_dir, record));
    mirrors_ = record.mirrors;
    for (size_t i = 0; i < mirrors_.size(); i++) {
      RETURN_IF_ERROR(MirrorVethAndTap(sk.get(), mirrors_[i], nics[i].tap_name, static_cast<unsigned>(found[i].iface.mtu())));
    }
    return Status::Ok();
  }).Wrap("connect the pod network of sandbox " + cfg_.id));
  if (found.empty()) {
    // Podman configures the network of a container with a user namespace
    // after create, in /proc/<state.pid>/ns/net: start looks again.
    network_connected_ = false;
    log::Info("sandbox " + cfg_.id + ": no interface in the pod network namespace yet; the guest has loopback only");
    return Status::Ok();
  }
  // Interfaces first (a route names its device), then every route at once.
  grpc::Routes routes;
  std::set<int> default_route_families;
  for (size_t i = 0; i < found.size(); i++) {
    if (i >= nics.size()) {
      log::Warn("sandbox " + cfg_.id + ": interface " + found[i].iface.name() +
                " not connected: it appeared after the VM started (no NIC hotplug)");
      continue;
    }
    grpc::Interface iface = found[i].iface;
    iface.set_device(nics[i].mac);
    RETURN_IF_ERROR(agent_->UpdateInterface(iface));
    for (const grpc::Route& r : found[i].routes.routes()) {
      // One default route per family, the first interface's: the guest's
      // routes carry no metric to choose between several.
      if (r.dest().empty() && !default_route_families.insert(r.family()).second) continue;
      *routes.add_routes() = r;
    }
    log::Info("sandbox " + cfg_.id + ": guest " + iface.name() + " has the pod network (" +
              std::to_string(iface.ipaddresses_size()) + " addresses, " +
              std::to_string(found[i].routes.routes_size()) + " routes)");
  }
  if (routes.routes_size() > 0) RETURN_IF_ERROR(agent_->UpdateRoutes(routes));
  StartPortForwarding();
  return Status::Ok();
}

// Without it only the CRI's port forward fails (its error then names the
// cause): the pod itself is fine, so a failure here is logged, not fatal.
void Sandbox::StartPortForwarding() {
  if (!cfg_.port_forward) return;
  auto pf = PortForwarder::Start(netns_, *agent_);
  if (!pf.ok()) {
    log::Warn("sandbox " + cfg_.id + ": port forwarding unavailable: " + pf.status().message());
    return;
  }
  port_forwarder_ = std::move(*pf);
}

// The taps go with the VMM; the pod's interfaces must be given back as they
// were, or every frame they receive keeps going to a tap that is gone. A
// namespace the sandbox made itself dies with it: nothing to undo there.
Status Sandbox::DisconnectNetwork() {
  if (mirrors_.empty()) return Status::Ok();
  std::vector<Mirror> mirrors;
  mirrors.swap(mirrors_);
  Status st = netns_.Run([&]() -> Status {
    ASSIGN_OR_RETURN(net::Socket sk, net::Connect());
    Status first;
    for (const Mirror& m : mirrors) {
      Status r = RemoveMirror(sk.get(), m);
      if (!r.ok() && first.ok()) first = r;
    }
    return first;
  });
  if (st.ok() && !netns_.path().empty()) unlink(fs::JoinPath(cfg_.vm.run_dir, "network.json").c_str());
  return st.Wrap("disconnect the pod network of sandbox " + cfg_.id);
}

}  // namespace kata::sandbox
