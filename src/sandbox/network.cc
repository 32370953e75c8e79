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

#include <linux/if.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

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

// Our mirroring filters' priority: RemoveMirror deletes the filter with this
// priority and no other, should the qdisc hold someone else's too.
constexpr uint16_t kMirrorFilterPrio = 0x4b41;

using Qdisc = std::unique_ptr<rtnl_qdisc, void (*)(rtnl_qdisc*)>;
using Classifier = std::unique_ptr<rtnl_cls, void (*)(rtnl_cls*)>;

Qdisc IngressQdisc(int ifindex) {
  Qdisc q(rtnl_qdisc_alloc(), rtnl_qdisc_put);
  rtnl_tc_set_ifindex(TC_CAST(q.get()), ifindex);
  rtnl_tc_set_parent(TC_CAST(q.get()), TC_H_INGRESS);
  rtnl_tc_set_handle(TC_CAST(q.get()), TC_HANDLE(0xffff, 0));
  rtnl_tc_set_kind(TC_CAST(q.get()), "ingress");
  return q;
}

Result<bool> HasIngressQdisc(nl_sock* sk, int ifindex) {
  nl_cache* c = nullptr;
  if (int err = rtnl_qdisc_alloc_cache(sk, &c); err < 0) return net::NlError(err, "list qdiscs");
  net::Cache qdiscs(c);
  rtnl_qdisc* q = rtnl_qdisc_get_by_parent(c, ifindex, TC_H_INGRESS);
  if (q == nullptr) return false;
  rtnl_qdisc_put(q);
  return true;
}

Status AddIngressQdisc(nl_sock* sk, int ifindex) {
  int err = rtnl_qdisc_add(sk, IngressQdisc(ifindex).get(), NLM_F_CREATE);
  if (err < 0 && err != -NLE_EXIST) return net::NlError(err, "add ingress qdisc to link " + std::to_string(ifindex));
  return Status::Ok();
}

Classifier MirrorFilter(int from) {
  Classifier cls(rtnl_cls_alloc(), rtnl_cls_put);
  rtnl_tc_set_ifindex(TC_CAST(cls.get()), from);
  rtnl_tc_set_parent(TC_CAST(cls.get()), TC_HANDLE(0xffff, 0));
  rtnl_tc_set_kind(TC_CAST(cls.get()), "u32");
  rtnl_cls_set_protocol(cls.get(), ETH_P_ALL);
  rtnl_cls_set_prio(cls.get(), kMirrorFilterPrio);
  return cls;
}

// tc filter add dev <from> parent ffff: protocol all u32 match u8 0 0
//   action mirred egress redirect dev <to>
Status RedirectIngress(nl_sock* sk, int from, int to) {
  Classifier cls = MirrorFilter(from);
  rtnl_u32_add_key_uint8(cls.get(), 0, 0, 0, 0);
  rtnl_u32_set_cls_terminal(cls.get());
  rtnl_act* act = rtnl_act_alloc();
  rtnl_tc_set_kind(TC_CAST(act), "mirred");
  rtnl_mirred_set_action(act, TCA_EGRESS_REDIR);
  rtnl_mirred_set_policy(act, TC_ACT_STOLEN);
  rtnl_mirred_set_ifindex(act, static_cast<uint32_t>(to));
  rtnl_u32_add_action(cls.get(), act);
  int err = rtnl_cls_add(sk, cls.get(), NLM_F_CREATE);
  rtnl_act_put(act);
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

enum class LinkRole { kIgnored, kPod, kForeign };

// What CNI plugins, podman and docker put in a pod's namespace. Anything
// else that is up (no kind: a physical NIC; a bridge, bond, vlan...) means
// the namespace is not a pod's: mirroring it would take its traffic.
bool IsPodKind(const char* kind) {
  if (kind == nullptr) return false;
  for (const char* k : {"veth", "macvlan", "macvtap", "ipvlan", "ipvtap", "tun"}) {
    if (std::strcmp(kind, k) == 0) return true;
  }
  return false;
}

// Loopback, our own taps, links that are down (e.g. the fallback tunnel
// devices every namespace gets) and non-Ethernet links are ignored.
LinkRole RoleOf(rtnl_link* l) {
  std::string name = rtnl_link_get_name(l);
  if (name == "lo" || IsSandboxTap(name) || rtnl_link_get_arptype(l) != ARPHRD_ETHER) return LinkRole::kIgnored;
  if ((rtnl_link_get_flags(l) & IFF_UP) == 0) return LinkRole::kIgnored;
  return IsPodKind(rtnl_link_get_type(l)) ? LinkRole::kPod : LinkRole::kForeign;
}

Status ForeignInterfaceError(rtnl_link* l) {
  const char* kind = rtnl_link_get_type(l);
  std::string what = kind == nullptr ? "a physical device" : std::string("a ") + kind;
  return Error(Code::kFailedPrecondition,
               std::string("the network namespace holds interface ") + rtnl_link_get_name(l) + " (" + what +
                   "), which a pod's namespace does not have: it looks like the host's network; "
                   "only veth, macvlan, ipvlan and tap interfaces of a pod are connected to the guest. "
                   "Give the container a namespace of its own (or none: host networking gives the guest loopback only)");
}

// The pod interfaces among `links`; an error if a foreign one is up.
Result<std::vector<rtnl_link*>> PodLinks(nl_cache* links) {
  std::vector<rtnl_link*> out;
  for (nl_object* o = nl_cache_get_first(links); o != nullptr; o = nl_cache_get_next(o)) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    switch (RoleOf(l)) {
      case LinkRole::kIgnored: break;
      case LinkRole::kPod: out.push_back(l); break;
      case LinkRole::kForeign: return ForeignInterfaceError(l);
    }
  }
  return out;
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
  ASSIGN_OR_RETURN(std::vector<rtnl_link*> pod, PodLinks(links.get()));
  return std::max<size_t>(1, pod.size());
}

Result<std::vector<PodInterface>> ScanPodNetwork(nl_sock* sk) {
  ASSIGN_OR_RETURN(net::Cache links, net::LinkCache(sk));
  ASSIGN_OR_RETURN(net::Cache addrs, net::AddrCache(sk));
  ASSIGN_OR_RETURN(net::Cache routes, net::RouteCache(sk));
  ASSIGN_OR_RETURN(std::vector<rtnl_link*> pod, PodLinks(links.get()));
  std::vector<PodInterface> out;
  for (rtnl_link* l : pod) {
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

Result<Mirror> PlanMirror(nl_sock* sk, int veth_ifindex, const std::string& name) {
  ASSIGN_OR_RETURN(bool existed, HasIngressQdisc(sk, veth_ifindex));
  return Mirror{veth_ifindex, name, existed};
}

Status MirrorVethAndTap(nl_sock* sk, const Mirror& veth, const std::string& tap_name, unsigned mtu) {
  ASSIGN_OR_RETURN(net::Link tap, net::LinkByName(sk, tap_name));
  int tap_ifindex = rtnl_link_get_ifindex(tap.get());
  RETURN_IF_ERROR(net::SetUp(sk, tap.get(), mtu));
  for (int dev : {veth.ifindex, tap_ifindex}) RETURN_IF_ERROR(AddIngressQdisc(sk, dev));
  RETURN_IF_ERROR(RedirectIngress(sk, veth.ifindex, tap_ifindex));
  return RedirectIngress(sk, tap_ifindex, veth.ifindex);
}

Status RemoveMirror(nl_sock* sk, const Mirror& veth) {
  rtnl_link* l = nullptr;
  if (rtnl_link_get_kernel(sk, veth.ifindex, nullptr, &l) < 0) return Status::Ok();  // gone with its namespace
  net::Link link(l);
  if (veth.name != rtnl_link_get_name(l)) return Status::Ok();  // not the interface we mirrored
  int err = veth.qdisc_existed ? rtnl_cls_delete(sk, MirrorFilter(veth.ifindex).get(), 0)
                               : rtnl_qdisc_delete(sk, IngressQdisc(veth.ifindex).get());
  if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NOADDR) {
    return net::NlError(err, "remove the mirroring of " + veth.name + " to the VM");
  }
  return Status::Ok();
}

Status MoveLinkToNetns(nl_sock* sk, const std::string& name, int netns_fd) {
  ASSIGN_OR_RETURN(net::Link link, net::LinkByName(sk, name));
  net::Link change(rtnl_link_alloc());
  rtnl_link_set_ns_fd(change.get(), netns_fd);
  return net::ChangeLink(sk, link.get(), change.get(), "move " + name + " to the pod's network namespace");
}

}  // namespace kata::sandbox
