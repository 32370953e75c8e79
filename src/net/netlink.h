// RAII handles and small helpers over libnl (route netlink). A socket is bound
// to the network namespace of the thread that connected it, and stays there
// when used from other threads: connect inside the namespace, use anywhere.
#pragma once

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace kata::net {

struct SocketFree {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct CacheFree {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
struct AddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct LinkPut {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
using Socket = std::unique_ptr<nl_sock, SocketFree>;
using Cache = std::unique_ptr<nl_cache, CacheFree>;
using Addr = std::unique_ptr<nl_addr, AddrPut>;
using Link = std::unique_ptr<rtnl_link, LinkPut>;

// "<what>: <libnl's message>" with a gRPC code that fits the libnl error.
Status NlError(int nl_err, const std::string& what);

// A NETLINK_ROUTE socket in the calling thread's network namespace.
Result<Socket> Connect();
Result<Cache> LinkCache(nl_sock* sk);
Result<Cache> AddrCache(nl_sock* sk);
Result<Cache> RouteCache(nl_sock* sk);

// Parses "10.0.0.1", "10.0.0.0/24", "fe80::1", "aa:bb:cc:dd:ee:ff" (family AF_LLC).
Result<Addr> ParseAddr(const std::string& text, int family);
// An IP address without its prefix ("10.0.0.1"); a MAC in lower case.
std::string AddrToString(const nl_addr* a);
// A MAC in canonical lower-case form, or "" if it is not one.
std::string NormalizeMac(const std::string& mac);

// The link with that name, or NotFound.
Result<Link> LinkByName(nl_sock* sk, const std::string& name);
// Applies the set fields of `change` to `link` (rtnl_link_change).
Status ChangeLink(nl_sock* sk, rtnl_link* link, rtnl_link* change, const std::string& what);
// Sets IFF_UP (and the MTU when mtu > 0).
Status SetUp(nl_sock* sk, rtnl_link* link, unsigned mtu = 0);

}  // namespace kata::net
