// The `start` and `delete` subcommands containerd 1.6 runs (PROTOCOLS §2.2,
// §2.4), and the socket naming they share with the serving shim.
#pragma once

#include <map>
#include <string>

namespace kata::shim {

struct ShimFlags {
  std::string ns, id, address, publish_binary, bundle, config;
  bool debug = false;
};

// containerd's shim library SocketAddress: unix:///run/containerd/s/<hex
// sha256(filepath.Join(address, ns, id))>; the path stays < 106 bytes.
std::string SocketPath(const std::string& containerd_address, const std::string& ns, const std::string& id);
inline std::string SocketAddress(const std::string& a, const std::string& ns, const std::string& id) {
  return "unix://" + SocketPath(a, ns, id);
}

// Which shim serves a container: its own id, or for a CRI pod container
// (io.kubernetes.cri.container-type=container) the pod sandbox's id.
std::string GroupId(const std::string& id, const std::map<std::string, std::string>& annotations);

// Reads the spec annotations of a bundle (empty if unreadable).
std::map<std::string, std::string> BundleAnnotations(const std::string& bundle);

// `start`: spawns the serving shim (or finds the pod's), writes `address`
// into the bundle (cwd), prints the address. Returns the exit code.
int StartAction(const ShimFlags& f, const std::string& self_exe);
// `delete`: cleans up after a dead shim and prints a DeleteResponse. Returns the exit code.
int DeleteAction(const ShimFlags& f);

}  // namespace kata::shim
