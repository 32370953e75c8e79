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

using FileFn = std::function<std::string(const std::string& path)>;

// Identity of a file's content without reading it (the kernel is 60+ MB and
// this runs at every sandbox start): size, mtime (ns) and inode. "missing"
// when it cannot be stat()ed.
std::string FileIdentity(const std::string& path);
// sha256 of the content; "unreadable" when it cannot be read.
std::string FileSha256(const std::string& path);

// "key=value" lines, one per input, in a fixed order: <file>_file is the
// FileIdentity of the QEMU binary, kernel and initrd, and with a
// `content_hash` (at template creation) <file>_sha256 their content hash.
// Per-sandbox fields (id, run and shared dirs) and the template fields are
// not part of it. The functions are fakes in tests.
std::string TemplateFingerprint(const vmm::VmSpec& spec, const FileFn& file_identity = FileIdentity,
                                const FileFn& content_hash = nullptr);

struct FingerprintCheck {
  bool match = false;
  std::string reason;  // what differs, e.g. "kernel changed (template: A, now: B)"
  // Non-empty when it matched only after hashing: `stored` with the new
  // file identities, to write back so the next check is a stat() again.
  std::string refreshed;
};

// Compares the stored fingerprint with the current one (made without
// hashes). A file whose identity changed (touched, copied again) still
// matches if its content hash is the recorded one: build scripts touch
// guest kernels that did not change.
FingerprintCheck CompareFingerprint(const std::string& stored, const std::string& current,
                                    const FileFn& content_hash = FileSha256);

}  // namespace kata::sandbox
