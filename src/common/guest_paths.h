// Paths in the guest that the runtime and the agent must agree on.
#pragma once

namespace kata {

// Where the agent mounts the sandbox's share (mount tag kataShared).
inline constexpr const char* kGuestSharedDir = "/run/kata-containers/shared/containers";
// virtio-fs: the same share served a second time, uncached and without
// submounts, for volumes that receive the host's mounts (rslave, rshared):
// there the guest holds no host inode (and no submount) longer than it uses
// it, so the host can unmount what it mounted below such a volume.
inline constexpr const char* kGuestPropagatedDir = "/run/kata-containers/shared/propagated";
inline constexpr const char* kPropagatedShareTag = "kataPropagated";
// Where the agent mounts a container's disks (block volumes), one directory
// per container: <this>/<container id>/<serial>.
inline constexpr const char* kGuestStorageDir = "/run/kata-containers/sandbox/storage";
// The containers' rootfs overlays whose upper layer is guest memory
// (agent/guest_rootfs.h): <dir>/<container id>/{upper,work,merged}.
inline constexpr const char* kGuestRootfsUpperDir = "/run/kata-containers/sandbox/rootfs-upper";
// The debug console's shell, relative to the share (agent/debug_console.h).
inline constexpr const char* kDebugShell = ".debug-console/busybox";
// A container spec's namespace path under this directory names a namespace of
// the pod's sandbox container (e.g. .../ipc): containerd asks a pod's
// containers to join the pause container's pid, ipc and uts namespaces by a
// host path; the runtime rewrites those paths to these names and the agent
// resolves them (agent/sandbox_namespaces.h). Not a directory in the guest.
inline constexpr const char* kGuestSandboxNsDir = "/run/kata-containers/sandbox/ns";
// The annotation (Kata's) that marks the pod's sandbox container in the spec
// the agent receives, and its value there.
inline constexpr const char* kContainerTypeAnnotation = "io.katacontainers.pkg.oci.container_type";
inline constexpr const char* kPodSandboxType = "pod_sandbox";

}  // namespace kata
