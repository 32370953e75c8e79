#include "sandbox/network.h"

#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/action.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/route.h>
#include <netlink/route/tc.h>

#include <algorithm>
#include <cstdio>

#include "common/log.h"
#include "net/netlink.h"

namespace kata::sandbox {
namespace {

grpc::IPFamily FamilyOf(int af) { return af == AF_INET6 ? grpc::v6 : grpc::v4; }

bool IsLinkLocalV6(const nl_addr* a) {
  if (nl_addr_get_family(a) != AF_INET6) return false;
  auto* b = static_cast<const unsigned char*>(nl_addr_get_binary_addr(a));
  return b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
}

void CollectAddresses(nl_cache* addrs, int ifindex, grpc::Interface* iface) {
  for (nl_object* o = nl_cache_get_first(addrs); o != nullptr; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != ifindex) continue;
    nl_addr* local = rtnl_addr_get_local(a);
    // The guest makes its own link-local address (from the same MAC).
    if (local == nullptr || IsLinkLocalV6(local)) continue;
    grpc::IPAddress* ip = iface->add_ipaddresses();
    ip->set_family(FamilyOf(rtnl_addr_get_family(a)));
    ip->set_address(net::AddrToString(local));
    ip->set_mask(std::to_string(rtnl_addr_get_prefixlen(a)));
  }
}

void CollectRoutes(nl_cache* routes, int ifindex, const std::string& guest_name, grpc::Routes* out) {
  for (nl_object* o = nl_cache_get_first(routes); o != nullptr; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    // Kernel-made routes (the subnet of an address) come back by themselves
    // in the guest once the address is set.
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_protocol(r) == RTPROT_KERNEL) continue;
    if (rtnl_route_get_type(r) != RTN_UNICAST || rtnl_route_get_nnexthops(r) < 1) continue;
    rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
    if (rtnl_route_nh_get_ifindex(nh) != ifindex) continue;
    nl_addr* dst = rtnl_route_get_dst(r);
    if (dst != nullptr && IsLinkLocalV6(dst)) continue;
    grpc::Route* route = out->add_routes();
    route->set_family(FamilyOf(rtnl_route_get_family(r)));
    if (dst != nullptr && nl_addr_get_prefixlen(dst) > 0) {
      route->set_dest(net::AddrToString(dst) + "/" + std::to_string(nl_addr_get_prefixlen(dst)));
    }
    route->set_gateway(net::AddrToString(rtnl_route_nh_get_gateway(nh)));
    route->set_source(net::AddrToString(rtnl_route_get_pref_src(r)));
    route->set_scope(rtnl_route_get_scope(r));
    route->set_device(guest_name);
  }
}

Status AddIngressQdisc(nl_sock* sk, int ifindex) {
  rtnl_qdisc* q = rtnl_qdisc_alloc();
  rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
  rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
  rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(0xffff, 0));
  rtnl_tc_set_kind(TC_CAST(q), "ingress");
  int err = rtnl_qdisc_add(sk, q, NLM_F_CREATE);
  rtnl_qdisc_put(q);
  if (err < 0 && err != -NLE_EXIST) return net::NlError(err, "add ingress qdisc to link " + std::to_string(ifindex));
  return Status::Ok();
}

// tc filter add dev <from> parent ffff: protocol all u32 match u8 0 0
//   action mirred egress redirect dev <to>
Status RedirectIngress(nl_sock* sk, int from, int to) {
  rtnl_cls* cls = rtnl_cls_alloc();
  rtnl_tc_set_ifindex(TC_CAST(cls), from);
  rtnl_tc_set_parent(TC_CAST(cls), TC_HANDLE(0xffff, 0));
  rtnl_tc_set_kind(TC_CAST(cls), "u32");
  rtnl_cls_set_protocol(cls, ETH_P_ALL);
  rtnl_cls_set_prio(cls, 1);
  rtnl_u32_add_key_uint8(cls, 0, 0, 0, 0);
  rtnl_u32_set_cls_terminal(cls);
  rtnl_act* act = rtnl_act_alloc();
  rtnl_tc_set_kind(TC_CAST(act), "mirred");
  rtnl_mirred_set_action(act, TCA_EGRESS_REDIR);
  rtnl_mirred_set_policy(act, TC_ACT_STOLEN);
  rtnl_mirred_set_ifindex(act, static_cast<uint32_t>(to));
  rtnl_u32_add_action(cls, act);
  int err = rtnl_cls_add(sk, cls, NLM_F_CREATE);
  rtnl_act_put(act);
  rtnl_cls_put(cls);
  if (err < 0) {
    return net::NlError(err, "redirect link " + std::to_string(from) + " to link " + std::to_string(to) +
                                 " (tc u32 + mirred: are the cls_u32 and act_mirred modules available?)");
  }
  return Status::Ok();
}

// tap<i>_kata (SandboxNic): made by QEMU next to the pod's interfaces.
bool IsSandboxTap(const std::string& name) {
  return name.size() > 8 && name.compare(0, 3, "tap") == 0 && name.compare(name.size() - 5, 5, "_kata") == 0;
}

// An interface the guest should get: an Ethernet link, not loopback, not ours.
bool IsPodInterface(rtnl_link* l) {
  std::string name = rtnl_link_get_name(l);
  return name != "lo" && !IsSandboxTap(name) && rtnl_link_get_arptype(l) == ARPHRD_ETHER;
}

}  // namespace

vmm::NetDevice SandboxNic(size_t index) {
  if (index == 0) return vmm::NetDevice{"net0", kTapName, kGuestBootMac};
  char mac[18];
  std::snprintf(mac, sizeof mac, "02:00:00:00:00:%02zx", (index + 1) & 0xff);
  std::string n = std::to_string(index);
  return vmm::NetDevice{"net" + n, "tap" + n + "_kata", mac};
}

Result<size_t> PodNicCount(nl_sock* sk) {
  // Links only: the addresses and routes are ScanPodNetwork's, after the boot.
  ASSIGN_OR_RETURN(net::Cache links, net::LinkCache(sk));
  size_t n = 0;
  for (nl_object* o = nl_cache_get_first(links.get()); o != nullptr; o = nl_cache_get_next(o)) {
    if (IsPodInterface(reinterpret_cast<rtnl_link*>(o))) n++;
  }
  return std::max<size_t>(1, n);
}

Result<std::vector<PodInterface>> ScanPodNetwork(nl_sock* sk) {
  ASSIGN_OR_RETURN(net::Cache links, net::LinkCache(sk));
  ASSIGN_OR_RETURN(net::Cache addrs, net::AddrCache(sk));
  ASSIGN_OR_RETURN(net::Cache routes, net::RouteCache(sk));
  std::vector<PodInterface> out;
  for (nl_object* o = nl_cache_get_first(links.get()); o != nullptr; o = nl_cache_get_next(o)) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    if (!IsPodInterface(l)) continue;
    std::string name = rtnl_link_get_name(l);
    PodInterface p;
    p.ifindex = rtnl_link_get_ifindex(l);
    p.iface.set_name(name);
    p.iface.set_hwaddr(net::AddrToString(rtnl_link_get_addr(l)));
    p.iface.set_mtu(rtnl_link_get_mtu(l));
    CollectAddresses(addrs.get(), p.ifindex, &p.iface);
    CollectRoutes(routes.get(), p.ifindex, name, &p.routes);
    out.push_back(std::move(p));
  }
  // By name (eth0, eth1, ..., eth10), not by creation order, which podman does
  // not fix: the first one's default route is the guest's (ConnectNetwork).
  std::sort(out.begin(), out.end(), [](const PodInterface& a, const PodInterface& b) {
    const std::string &x = a.iface.name(), &y = b.iface.name();
    return x.size() != y.size() ? x.size() < y.size() : x < y;
  });
  return out;
}

Status MirrorVethAndTap(nl_sock* sk, int veth_ifindex, const std::string& tap_name, unsigned mtu) {
  ASSIGN_OR_RETURN(net::Link tap, net::LinkByName(sk, tap_name));
  int tap_ifindex = rtnl_link_get_ifindex(tap.get());
  RETURN_IF_ERROR(net::SetUp(sk, tap.get(), mtu));
  for (int dev : {veth_ifindex, tap_ifindex}) RETURN_IF_ERROR(AddIngressQdisc(sk, dev));
  RETURN_IF_ERROR(RedirectIngress(sk, veth_ifindex, tap_ifindex));
  return RedirectIngress(sk, tap_ifindex, veth_ifindex);
}

Status MoveLinkToNetns(nl_sock* sk, const std::string& name, int netns_fd) {
  ASSIGN_OR_RETURN(net::Link link, net::LinkByName(sk, name));
  net::Link change(rtnl_link_alloc());
  rtnl_link_set_ns_fd(change.get(), netns_fd);
  return net::ChangeLink(sk, link.get(), change.get(), "move " + name + " to the pod's network namespace");
}

}  // namespace kata::sandbox
