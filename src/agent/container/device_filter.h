// linux.resources.devices under cgroup v2: there is no devices controller;
// the kernel asks a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the
// container's cgroup on every mknod and device open (and for every cgroup
// above it). This file turns the OCI rules into such a program and attaches
// it.
//
// Semantics are runc's (libcontainer's device filter), which is what users
// of Docker, podman and containerd get on a cgroup v2 host:
//  * the rules are read in order like cgroup v1's devices.allow/deny writes:
//    a new cgroup allows everything; a rule for every device ("a", or no
//    type/major/minor, access rwm) resets the list and sets the default;
//    every other rule is an exception, and the last matching one wins;
//  * a rule matches a request when the type and numbers match and the rule's
//    access covers every access the request asks for (an "rw" open is not
//    allowed by an "r" rule);
//  * a default list is always allowed after the spec's rules (runc's and
//    Kata's: /dev/null, zero, full, random, urandom, tty, console, ptmx, the
//    pts, tun, and mknod of any node), and so is every linux.devices entry,
//    which the runtime creates for the container.
//
//   ASSIGN_OR_RETURN(auto rules, ParseDeviceRules(resources["devices"]));
//   RETURN_IF_ERROR(AttachDeviceFilter(cgroup_dir, CompileDeviceFilter(WithDefaults(rules, spec_devices))));
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "oci/spec.h"

namespace kata::agent {

struct DeviceRule {
  bool allow = false;
  char type = 'a';     // 'a' (all), 'c', 'b'
  int64_t major = -1;  // -1: any
  int64_t minor = -1;
  unsigned access = 0;  // kDevAccess* bits
  bool operator==(const DeviceRule&) const = default;
};

constexpr unsigned kDevAccessMknod = BPF_DEVCG_ACC_MKNOD;
constexpr unsigned kDevAccessRead = BPF_DEVCG_ACC_READ;
constexpr unsigned kDevAccessWrite = BPF_DEVCG_ACC_WRITE;
constexpr unsigned kDevAccessAll = kDevAccessMknod | kDevAccessRead | kDevAccessWrite;

// The OCI linux.resources.devices array; an error names the bad entry.
Result<std::vector<DeviceRule>> ParseDeviceRules(const nlohmann::json& devices);

// `rules`, then the default allowed devices, then an allow rule per
// linux.devices entry (its type and numbers, rwm).
std::vector<DeviceRule> WithDefaults(std::vector<DeviceRule> rules, const std::vector<oci::Device>& spec_devices);

// The program (see the top of this file for the semantics). R1 points at
// struct bpf_cgroup_dev_ctx; the program returns 1 to allow, 0 to deny.
std::vector<bpf_insn> CompileDeviceFilter(const std::vector<DeviceRule>& rules);

// Loads the program and attaches it to the cgroup directory (multi-attach,
// so that a container can run its own cgroup manager below it), then
// detaches the programs an earlier call attached there (an update replaces
// the filter). Unsupported when the kernel has no bpf() or no cgroup BPF.
Status AttachDeviceFilter(const std::string& cgroup_dir, const std::vector<bpf_insn>& program);

}  // namespace kata::agent
