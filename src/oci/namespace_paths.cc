#include "oci/namespace_paths.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace kata::oci {
namespace {

int CloneFlagOf(const std::string& type) {
  if (type == "pid") return CLONE_NEWPID;
  if (type == "network") return CLONE_NEWNET;
  if (type == "mount") return CLONE_NEWNS;
  if (type == "ipc") return CLONE_NEWIPC;
  if (type == "uts") return CLONE_NEWUTS;
  if (type == "user") return CLONE_NEWUSER;
  if (type == "cgroup") return CLONE_NEWCGROUP;
  if (type == "time") return CLONE_NEWTIME;
  return 0;
}

}  // namespace

Status CheckNamespacePaths(const Spec& spec) {
  if (!spec.linux_config) return Status::Ok();
  for (size_t i = 0; i < spec.linux_config->namespaces.size(); i++) {
    const Namespace& ns = spec.linux_config->namespaces[i];
    if (ns.path.empty()) continue;
    std::string field = "linux.namespaces[" + std::to_string(i) + "].path";
    int fd = open(ns.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError(field + ": open " + ns.path);
    int type = ioctl(fd, NS_GET_NSTYPE);
    int err = errno;
    close(fd);
    if (type < 0) {
      return Error(Code::kInvalidArgument, field + ": " + ns.path + " is not a namespace (" + strerror(err) + ")");
    }
    if (type != CloneFlagOf(ns.type)) {
      return Error(Code::kInvalidArgument, field + ": " + ns.path + " is not a namespace of type " + ns.type);
    }
  }
  return Status::Ok();
}

}  // namespace kata::oci
