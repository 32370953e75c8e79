#include "vmm/confinement.h"

#include <linux/capability.h>
#include <sched.h>
#include <sys/syscall.h>
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
  return [conf]() -> int { return DropCapabilities(conf->keep_caps); };
}

}  // namespace kata::vmm
