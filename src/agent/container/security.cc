#include "agent/container/security.h"

#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "agent/container/seccomp_compile.h"
#include "common/log.h"

namespace kata::agent {
namespace {

// Index = capability number (linux/capability.h, up to CAP_CHECKPOINT_RESTORE).
const char* const kCapNames[] = {
    "CAP_CHOWN",          "CAP_DAC_OVERRIDE",   "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID",         "CAP_KILL",           "CAP_SETGID",          "CAP_SETUID",
    "CAP_SETPCAP",        "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",      "CAP_NET_RAW",        "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",     "CAP_SYS_RAWIO",      "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",      "CAP_SYS_ADMIN",      "CAP_SYS_BOOT",        "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",   "CAP_SYS_TIME",       "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
    "CAP_LEASE",          "CAP_AUDIT_WRITE",    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",   "CAP_MAC_ADMIN",      "CAP_SYSLOG",          "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",  "CAP_AUDIT_READ",     "CAP_PERFMON",         "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
constexpr int kKnownCaps = sizeof(kCapNames) / sizeof(kCapNames[0]);

int LastCap() {
  std::ifstream f("/proc/sys/kernel/cap_last_cap");
  int last = -1;
  if (f >> last && last >= 0 && last < 64) return last;
  return kKnownCaps - 1;
}

uint64_t Mask(const std::vector<std::string>& names, int last, const char* set) {
  uint64_t m = 0;
  for (const std::string& n : names) {
    int c = CapabilityNumber(n);
    if (c < 0 || c > last) {
      log::Warn("capabilities." + std::string(set) + ": " + n + " is unknown to this kernel, ignored");
      continue;
    }
    m |= uint64_t{1} << c;
  }
  return m;
}

}  // namespace

int CapabilityNumber(const std::string& name) {
  std::string n = name;
  for (char& c : n) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  if (n.rfind("CAP_", 0) != 0) n = "CAP_" + n;
  for (int i = 0; i < kKnownCaps; ++i) {
    if (n == kCapNames[i]) return i;
  }
  return -1;
}

Status BuildSecurityPlan(const oci::Process& p, const nlohmann::json& seccomp, ProcessPlan* plan) {
  if (p.capabilities) {
    const oci::Capabilities& c = *p.capabilities;
    plan->set_caps = true;
    plan->cap_last = LastCap();
    plan->cap_bounding = Mask(c.bounding, plan->cap_last, "bounding");
    plan->cap_effective = Mask(c.effective, plan->cap_last, "effective");
    plan->cap_permitted = Mask(c.permitted, plan->cap_last, "permitted");
    plan->cap_inheritable = Mask(c.inheritable, plan->cap_last, "inheritable");
    plan->cap_ambient = Mask(c.ambient, plan->cap_last, "ambient");
  }
  ASSIGN_OR_RETURN(SeccompProgram prog, CompileSeccomp(seccomp));
  plan->seccomp = std::move(prog.filter);
  plan->seccomp_flags = prog.flags;
  if (!plan->seccomp.empty() && !plan->no_new_privs) {
    // Without no_new_privs the filter needs CAP_SYS_ADMIN when it is loaded.
    bool admin_at_end = plan->set_caps ? (plan->cap_effective >> CAP_SYS_ADMIN) & 1 : plan->uid == 0;
    plan->seccomp_early = !admin_at_end;
  }
  return {};
}

}  // namespace kata::agent

namespace kata::agent::child {

Step PrepareCapabilities(const ProcessPlan& p) {
  if (!p.set_caps) return Ok();
  for (int c = 0; c <= p.cap_last; ++c) {
    if ((p.cap_bounding >> c) & 1) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) return Fail(errno, "drop bounding capabilities");
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return Fail(errno, "set keepcaps");
  return Ok();
}

Step ApplyCapabilities(const ProcessPlan& p) {
  if (!p.set_caps) return Ok();
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; ++i) {
    data[i].effective = static_cast<uint32_t>(p.cap_effective >> (32 * i));
    data[i].permitted = static_cast<uint32_t>(p.cap_permitted >> (32 * i));
    data[i].inheritable = static_cast<uint32_t>(p.cap_inheritable >> (32 * i));
  }
  if (syscall(SYS_capset, &hdr, data) != 0) return Fail(errno, "set capabilities");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return Fail(errno, "clear ambient capabilities");
  }
  for (int c = 0; c <= p.cap_last; ++c) {
    if (!((p.cap_ambient >> c) & 1)) continue;
    // Not in permitted+inheritable: the kernel refuses (EPERM); runc ignores it too.
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) != 0 && errno != EPERM) {
      return Fail(errno, "raise ambient capability");
    }
  }
  return Ok();
}

Step ApplySeccomp(const ProcessPlan& p, bool early) {
  if (p.seccomp.empty() || p.seccomp_early != early) return Ok();
  struct sock_fprog prog = {static_cast<unsigned short>(p.seccomp.size()),
                            const_cast<struct sock_filter*>(p.seccomp.data())};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p.seccomp_flags, &prog) != 0) {
    return Fail(errno, "load seccomp filter");
  }
  return Ok();
}

}  // namespace kata::agent::child
