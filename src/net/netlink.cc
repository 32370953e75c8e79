#include "net/netlink.h"

#include <arpa/inet.h>
#include <linux/if.h>
#include <netlink/errno.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>
#include <sys/socket.h>

#include <cctype>

namespace kata::net {

Status NlError(int nl_err, const std::string& what) {
  int e = nl_err < 0 ? -nl_err : nl_err;
  Code code = Code::kInternal;
  switch (e) {
    case NLE_EXIST: code = Code::kAlreadyExists; break;
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV: code = Code::kNotFound; break;
    case NLE_INVAL:
    case NLE_RANGE:
    case NLE_AF_NOSUPPORT: code = Code::kInvalidArgument; break;
    case NLE_PERM: code = Code::kPermissionDenied; break;
    default: break;
  }
  return Error(code, what + ": " + nl_geterror(e));
}

Result<Socket> Connect() {
  Socket sk(nl_socket_alloc());
  if (!sk) return Error(Code::kResourceExhausted, "netlink: out of memory");
  if (int err = nl_connect(sk.get(), NETLINK_ROUTE); err < 0) return NlError(err, "netlink connect");
  return sk;
}

Result<Cache> LinkCache(nl_sock* sk) {
  nl_cache* c = nullptr;
  if (int err = rtnl_link_alloc_cache(sk, AF_UNSPEC, &c); err < 0) return NlError(err, "list links");
  return Cache(c);
}

Result<Cache> AddrCache(nl_sock* sk) {
  nl_cache* c = nullptr;
  if (int err = rtnl_addr_alloc_cache(sk, &c); err < 0) return NlError(err, "list addresses");
  return Cache(c);
}

Result<Cache> RouteCache(nl_sock* sk) {
  nl_cache* c = nullptr;
  if (int err = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &c); err < 0) return NlError(err, "list routes");
  return Cache(c);
}

Result<Addr> ParseAddr(const std::string& text, int family) {
  nl_addr* a = nullptr;
  if (int err = nl_addr_parse(text.c_str(), family, &a); err < 0) {
    return NlError(err, "address \"" + text + "\"");
  }
  return Addr(a);
}

std::string AddrToString(const nl_addr* a) {
  if (a == nullptr) return "";
  int family = nl_addr_get_family(a);
  if (family == AF_INET || family == AF_INET6) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, nl_addr_get_binary_addr(a), buf, sizeof buf);
    return buf;
  }
  char buf[64] = {};
  nl_addr2str(a, buf, sizeof buf);
  return NormalizeMac(buf);
}

std::string NormalizeMac(const std::string& mac) {
  std::string out;
  for (char c : mac) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (out.size() != 17) return "";
  for (size_t i = 0; i < out.size(); i++) {
    bool colon = i % 3 == 2;
    if (colon != (out[i] == ':') || (!colon && !std::isxdigit(static_cast<unsigned char>(out[i])))) return "";
  }
  return out;
}

Result<Link> LinkByName(nl_sock* sk, const std::string& name) {
  rtnl_link* l = nullptr;
  if (int err = rtnl_link_get_kernel(sk, 0, name.c_str(), &l); err < 0) return NlError(err, "link " + name);
  return Link(l);
}

Status ChangeLink(nl_sock* sk, rtnl_link* link, rtnl_link* change, const std::string& what) {
  if (int err = rtnl_link_change(sk, link, change, 0); err < 0) return NlError(err, what);
  return Status::Ok();
}

Status SetUp(nl_sock* sk, rtnl_link* link, unsigned mtu) {
  Link change(rtnl_link_alloc());
  if (mtu > 0) rtnl_link_set_mtu(change.get(), mtu);
  rtnl_link_set_flags(change.get(), IFF_UP);
  return ChangeLink(sk, link, change.get(), std::string("bring up ") + rtnl_link_get_name(link));
}

}  // namespace kata::net
