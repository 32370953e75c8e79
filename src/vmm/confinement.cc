#include "vmm/confinement.h"

#include <linux/capability.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace kata::vmm {
namespace {

// Child-side failure: one line in the VMM's log, the errno for the spawner.
int Fail(const char* what) {
  int err = errno;
  const char* prefix = "kata: confining the VMM: ";
  ssize_t unused = write(2, prefix, strlen(prefix));
  unused = write(2, what, strlen(what));
  const char* reason = strerror(err);
  unused = write(2, ": ", 2);
  unused = write(2, reason, strlen(reason));
  unused = write(2, "\n", 1);
  (void)unused;
  return err == 0 ? EINVAL : err;
}

int SetUpShare(const char* source, const char* exported) {
  if (unshare(CLONE_NEWNS) != 0) return Fail("new mount namespace");
  if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) return Fail("make / a slave");
  if (mount(source, source, nullptr, MS_BIND, nullptr) != 0) return Fail("bind the share's source onto itself");
  if (mount(nullptr, source, nullptr, MS_SHARED, nullptr) != 0) return Fail("make the share's source shared");
  if (mount(source, exported, nullptr, MS_BIND, nullptr) != 0) return Fail("bind the share's source to the export");
  unsigned long ro = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV;
  if (mount(nullptr, exported, nullptr, ro, nullptr) != 0) return Fail("make the export read-only");
  if (mount(nullptr, exported, nullptr, MS_SLAVE, nullptr) != 0) return Fail("make the export a slave");
  return 0;
}

int DropCapabilities(const std::vector<int>& keep) {
  for (int cap = 0; cap < 64; cap++) {
    bool kept = false;
    for (int k : keep) kept = kept || k == cap;
    if (kept) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return Fail("drop a capability");
  }
  // An inheritable capability would survive exec whatever the bounding set.
  __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return Fail("read capabilities");
  data[0].inheritable = data[1].inheritable = 0;
  if (syscall(SYS_capset, &hdr, data) != 0) return Fail("clear inheritable capabilities");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return Fail("clear ambient capabilities");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Fail("set no_new_privs");
  return 0;
}

}  // namespace

std::function<int()> ConfineInChild(const Confinement& c) {
  auto conf = std::make_shared<const Confinement>(c);
  return [conf]() -> int {
    if (!conf->share_source.empty()) {
      if (int err = SetUpShare(conf->share_source.c_str(), conf->share_exported.c_str()); err != 0) return err;
    }
    return DropCapabilities(conf->keep_caps);
  };
}

}  // namespace kata::vmm
