// What a VM template depends on, as text stored next to it: a sandbox may
// start from the template only if its own fingerprint is the same. A saved VM
// is only valid for the same QEMU, guest kernel and initrd (the guest RAM holds
// them, already running) and the same machine, memory and vCPUs (the device
// state must match the clone's command line).
#pragma once

#include <functional>
#include <string>

#include "vmm/hypervisor.h"

namespace kata::sandbox {

// Identity of a file's content without reading it (the kernel is 60+ MB and
// this runs at every sandbox start): size, mtime (ns) and inode. "missing"
// when it cannot be stat()ed.
std::string FileIdentity(const std::string& path);

// "key=value" lines, one per input, in a fixed order. `file_identity` is
// FileIdentity in production, a fake in tests. Per-sandbox fields (id, run
// and shared dirs) and the template fields are not part of it.
std::string TemplateFingerprint(const vmm::VmSpec& spec,
                                const std::function<std::string(const std::string&)>& file_identity = FileIdentity);

// "" when equal; else what differs, e.g. "kernel changed (template: A, now: B)".
std::string FingerprintMismatch(const std::string& stored, const std::string& current);

}  // namespace kata::sandbox
