// VM templating (Kata's [factory] enable_template): one VM booted to the point
// where its agent waits for a host, saved (device state in a file, guest RAM
// in a file), then resumed by every new sandbox instead of booting. Clones map
// the RAM file privately (copy-on-write): the pages none of them writes stay
// shared in the host page cache.
//
// Layout of the template directory (0700):
//   memory       guest RAM (memory-backend-file), the size of the VM's memory
//   state        QEMU migration stream without RAM (x-ignore-shared)
//   fingerprint  what the template was made from (template_fingerprint.h);
//                written last, so its presence marks a complete template
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"
#include "vmm/hypervisor.h"

namespace kata::sandbox {

struct TemplateFiles {
  std::string dir;
  std::string memory() const { return dir + "/memory"; }
  std::string state() const { return dir + "/state"; }
  std::string fingerprint() const { return dir + "/fingerprint"; }
};

struct TemplateStatus {
  bool exists = false;  // a complete template is there
  bool valid = false;   // ... and it matches the current configuration
  std::string reason;   // why not, when !valid
};

// Boots a VM like `spec` (the spec sandboxes get, without NICs), waits for
// its agent, saves it into `dir`, stops it. Built in a sibling directory and
// renamed into place, so sandboxes never see half a template, and clones of
// a replaced template keep their (unlinked) RAM file. Nothing is left behind
// on failure.
Status CreateVmTemplate(const vmm::VmSpec& spec, const std::string& dir, const std::string& hypervisor,
                        std::chrono::milliseconds agent_timeout);

TemplateStatus InspectVmTemplate(const vmm::VmSpec& spec, const std::string& dir);

// Removes the template (running clones keep their mapping), and the staging
// directories of a `factory init` that was killed. Idempotent.
Status DestroyVmTemplate(const std::string& dir);

// For a sandbox's VM: when the template in `dir` is usable for `spec`, points
// spec at it (memory_file private, restore_state) and returns "". Otherwise
// leaves spec alone and returns why (the caller cold boots and logs it).
std::string UseVmTemplate(const std::string& dir, vmm::VmSpec* spec);

// The template path must be absolute and free of ',' (QEMU's option
// separator, in mem-path).
Status CheckTemplatePath(const std::string& dir);

}  // namespace kata::sandbox
