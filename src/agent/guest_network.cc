#include "agent/guest_network.h"

#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>

#include <algorithm>
#include <charconv>

#include "common/log.h"
#include "net/netlink.h"

namespace kata::agent {
namespace {

int AfOf(grpc::IPFamily f) { return f == grpc::v6 ? AF_INET6 : AF_INET; }

Result<net::Link> LinkByMac(nl_sock* sk, const std::string& mac) {
  std::string want = net::NormalizeMac(mac);
  if (want.empty()) return Error(Code::kInvalidArgument, "interface device \"" + mac + "\" is not a MAC address");
  ASSIGN_OR_RETURN(net::Cache links, net::LinkCache(sk));
  for (nl_object* o = nl_cache_get_first(links.get()); o != nullptr; o = nl_cache_get_next(o)) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    if (net::AddrToString(rtnl_link_get_addr(l)) == want) {
      nl_object_get(reinterpret_cast<nl_object*>(l));
      return net::Link(l);
    }
  }
  return Error(Code::kNotFound, "no guest network interface has MAC " + want +
                                    " (is the virtio-net driver in the guest kernel?)");
}

Status AddAddress(nl_sock* sk, int ifindex, const grpc::IPAddress& ip) {
  ASSIGN_OR_RETURN(int prefix, PrefixLength(ip));
  ASSIGN_OR_RETURN(net::Addr local, net::ParseAddr(ip.address(), AfOf(ip.family())));
  nl_addr_set_prefixlen(local.get(), prefix);
  rtnl_addr* a = rtnl_addr_alloc();
  rtnl_addr_set_ifindex(a, ifindex);
  rtnl_addr_set_local(a, local.get());
  rtnl_addr_set_prefixlen(a, prefix);
  int err = rtnl_addr_add(sk, a, NLM_F_REPLACE);
  rtnl_addr_put(a);
  if (err < 0 && err != -NLE_EXIST) return net::NlError(err, "add address " + ip.address() + "/" + ip.mask());
  return Status::Ok();
}

Status AddRoute(nl_sock* sk, const grpc::Route& r) {
  int af = AfOf(r.family());
  ASSIGN_OR_RETURN(net::Link dev, net::LinkByName(sk, r.device()));
  std::string dest = r.dest().empty() ? "default" : r.dest();
  ASSIGN_OR_RETURN(net::Addr dst, net::ParseAddr(dest, af));
  rtnl_route* route = rtnl_route_alloc();
  rtnl_route_set_family(route, static_cast<uint8_t>(af));
  rtnl_route_set_table(route, RT_TABLE_MAIN);
  rtnl_route_set_protocol(route, RTPROT_BOOT);
  rtnl_route_set_type(route, RTN_UNICAST);
  rtnl_route_set_scope(route, static_cast<uint8_t>(r.scope()));
  rtnl_route_set_dst(route, dst.get());
  Status st;
  if (!r.source().empty()) {
    auto src = net::ParseAddr(r.source(), af);
    if (src.ok()) rtnl_route_set_pref_src(route, src->get());
    else st = src.status();
  }
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  rtnl_route_nh_set_ifindex(nh, rtnl_link_get_ifindex(dev.get()));
  if (!r.gateway().empty()) {
    auto gw = net::ParseAddr(r.gateway(), af);
    if (gw.ok()) rtnl_route_nh_set_gateway(nh, gw->get());
    else st = gw.status();
  }
  rtnl_route_add_nexthop(route, nh);
  if (st.ok()) {
    if (int err = rtnl_route_add(sk, route, NLM_F_REPLACE); err < 0) {
      st = net::NlError(err, "add route " + dest + (r.gateway().empty() ? "" : " via " + r.gateway()) + " dev " +
                                 r.device());
    }
  }
  rtnl_route_put(route);
  return st;
}

}  // namespace

Result<int> PrefixLength(const grpc::IPAddress& ip) {
  // std::stoi took "24abc", "-1" and "999": the kernel then refused the
  // address with a message that did not say why.
  int max = ip.family() == grpc::v6 ? 128 : 32;
  const std::string& m = ip.mask();
  int prefix = -1;
  auto [end, ec] = std::from_chars(m.data(), m.data() + m.size(), prefix);
  if (ec != std::errc() || end != m.data() + m.size() || prefix < 0 || prefix > max) {
    return Error(Code::kInvalidArgument, "address " + ip.address() + ": mask \"" + m +
                                             "\" is not a prefix length (0 to " + std::to_string(max) + ")");
  }
  return prefix;
}

Status BringUpLoopback() {
  ASSIGN_OR_RETURN(net::Socket sk, net::Connect());
  ASSIGN_OR_RETURN(net::Link lo, net::LinkByName(sk.get(), "lo"));
  return net::SetUp(sk.get(), lo.get());
}

// The guest names its NICs eth0, eth1, ... at boot; a pod's interfaces may
// come in another order (or be named eth1, eth2): a NIC whose new name is
// still taken by another NIC moves that one aside first (it gets its own
// name when its UpdateInterface comes).
Status FreeName(nl_sock* sk, const std::string& name, int for_ifindex) {
  auto other = net::LinkByName(sk, name);
  if (!other.ok() || rtnl_link_get_ifindex(other->get()) == for_ifindex) return Status::Ok();
  net::Link change(rtnl_link_alloc());
  std::string aside = "kata-nic" + std::to_string(rtnl_link_get_ifindex(other->get()));
  rtnl_link_set_name(change.get(), aside.c_str());
  rtnl_link_unset_flags(change.get(), IFF_UP);
  return net::ChangeLink(sk, other->get(), change.get(), "rename " + name + " to " + aside);
}

Status ConfigureInterface(const grpc::Interface& iface) {
  ASSIGN_OR_RETURN(net::Socket sk, net::Connect());
  ASSIGN_OR_RETURN(net::Link link, LinkByMac(sk.get(), iface.device()));
  if (!iface.name().empty()) RETURN_IF_ERROR(FreeName(sk.get(), iface.name(), rtnl_link_get_ifindex(link.get())));
  // Name and MAC change while the link is down.
  net::Link change(rtnl_link_alloc());
  if (!iface.name().empty() && iface.name() != rtnl_link_get_name(link.get())) {
    rtnl_link_set_name(change.get(), iface.name().c_str());
  }
  if (!iface.hwaddr().empty()) {
    ASSIGN_OR_RETURN(net::Addr mac, net::ParseAddr(iface.hwaddr(), AF_LLC));
    rtnl_link_set_addr(change.get(), mac.get());
  }
  if (iface.mtu() > 0) rtnl_link_set_mtu(change.get(), static_cast<unsigned>(iface.mtu()));
  rtnl_link_unset_flags(change.get(), IFF_UP);
  RETURN_IF_ERROR(net::ChangeLink(sk.get(), link.get(), change.get(), "configure interface " + iface.device()));
  int ifindex = rtnl_link_get_ifindex(link.get());
  for (const grpc::IPAddress& ip : iface.ipaddresses()) RETURN_IF_ERROR(AddAddress(sk.get(), ifindex, ip));
  ASSIGN_OR_RETURN(net::Link renamed, net::LinkByName(sk.get(), iface.name().empty() ? rtnl_link_get_name(link.get())
                                                                                      : iface.name()));
  RETURN_IF_ERROR(net::SetUp(sk.get(), renamed.get()));
  log::Info("interface " + iface.name() + " (" + iface.hwaddr() + ") up with " + std::to_string(iface.ipaddresses_size()) +
            " addresses");
  return Status::Ok();
}

Status AddRoutes(const grpc::Routes& routes) {
  ASSIGN_OR_RETURN(net::Socket sk, net::Connect());
  // A gateway must be reachable through a device route before a route via it is accepted.
  std::vector<const grpc::Route*> ordered;
  for (const grpc::Route& r : routes.routes()) ordered.push_back(&r);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const grpc::Route* a, const grpc::Route* b) { return a->gateway().empty() && !b->gateway().empty(); });
  for (const grpc::Route* r : ordered) RETURN_IF_ERROR(AddRoute(sk.get(), *r));
  return Status::Ok();
}

}  // namespace kata::agent
