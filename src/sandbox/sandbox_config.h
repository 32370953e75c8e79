// Maps configuration.toml (plus the accelerator probe) to a SandboxConfig:
// the one place both front doors (the shim, kata-runtime) get it from.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "sandbox/sandbox.h"
#include "vmm/kvm_probe.h"

namespace kata::sandbox {

// The guest kernel command line the runtime always uses; the configuration's
// kernel_params are appended (later words win in the kernel's parser).
std::string BaseKernelParams(bool debug);

// What the accelerator adds to the kernel command line: under TCG, the
// clock rates the guest would otherwise calibrate slowly; nothing with KVM.
std::string AcceleratorKernelParams(const std::string& accel, const std::string& machine_type);

// The accelerator this host gives a VM configured with `configured` (auto,
// kvm, tcg) and why: what MakeSandboxConfig uses, and `kata-runtime check`
// and `env` report (so neither front door reaches into vmm/).
using AccelDecision = vmm::AccelDecision;
AccelDecision ChooseAccelerator(const std::string& configured);

// Fails if a forced accelerator cannot be used ("kvm" without /dev/kvm).
Result<sandbox::SandboxConfig> MakeSandboxConfig(const config::Config& cfg, const std::string& sandbox_id,
                                                 vmm::AccelDecision* decision_out = nullptr);

// CRI's pod sizing annotations (containerd >= 1.6):
// io.kubernetes.cri.sandbox-memory (bytes) and -cpu-quota / -cpu-period.
// Our choice: the VM gets max(default_memory, ceil(memory / 1 MiB)) MiB and
// max(default_vcpus, ceil(quota / period)) vCPUs, capped at the host's CPUs.
// The configured default already covers the guest's own overhead (kernel +
// agent); "max" rather than Kata's "default + limit" keeps a pod with a small
// limit from paying for two sizes on a small host. Absent or non-positive
// values (containerd's "no limit") leave the defaults.
// The annotations come from whoever creates the pod, so they are checked:
// a value that is not a 64-bit integer, memory beyond the host's, or a
// period outside the kernel's CFS range (1 ms to 1 s) is refused with an
// error naming the annotation, and `sc` is left unchanged.
struct SizingLimits {
  long long max_memory_mib = 0;  // 0 = no limit
  long long max_vcpus = 0;       // 0 = no cap
};
// This host's physical memory and online CPUs.
SizingLimits HostSizingLimits();
Status SizeFromAnnotations(const std::map<std::string, std::string>& annotations, sandbox::SandboxConfig* sc,
                           const SizingLimits& limits = HostSizingLimits());
// The pod network from the sandbox container's spec: a network namespace
// with a path (podman, CRI) is the pod's; one without a path gets a new
// namespace (docker's hook moves its veth in); none at all (host network)
// leaves the VM without a NIC.
void ApplyNetworkNamespace(const nlohmann::json& spec, sandbox::SandboxConfig* sc);
// [runtime] sandbox_cgroup_only: the sandbox's host processes live in a
// cgroup at the spec's linux.cgroupsPath (sandbox/host_cgroup.h).
void ApplyHostCgroup(const config::Config& cfg, const nlohmann::json& spec, sandbox::SandboxConfig* sc);

// virtiofsd does each request as the caller's uid without the caller's
// capabilities: a user namespace's root (a mapped uid) could not write where
// only its CAP_DAC_OVERRIDE lets it (its own 0555 "/" in podman's images).
// QEMU's 9p serves as root, as runc's kernel would allow: a sandbox whose
// first container has a user namespace gets virtio-9p.
void UseNinePForUserNamespaces(const config::Config& cfg, const nlohmann::json& spec, sandbox::SandboxConfig* sc);
// A Kubernetes pod (CRI's sandbox container) that asks for the host's network
// or IPC namespace is refused, naming the option: the pod runs on its own
// kernel, where neither exists. (hostPID is kept: the pod's containers share
// the guest's pid namespace, docs/kubernetes.md.) Other specs pass.
Status CheckPodHostNamespaces(const nlohmann::json& spec, const std::map<std::string, std::string>& annotations);
// True for the sandbox (pause) container of a Kubernetes pod, which CRI marks
// with io.kubernetes.cri.container-type = sandbox.
bool IsCriPodSandbox(const std::map<std::string, std::string>& annotations);

}  // namespace kata::sandbox
