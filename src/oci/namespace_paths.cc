#include "oci/namespace_paths.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>

#include "oci/json_fields.h"
#include "oci/namespace_types.h"
#include "common/unique_fd.h"

namespace kata::oci {

Status CheckNamespacePaths(const Spec& spec) {
  if (!spec.linux_config) return Status::Ok();
  for (size_t i = 0; i < spec.linux_config->namespaces.size(); i++) {
    const Namespace& ns = spec.linux_config->namespaces[i];
    if (ns.path.empty()) continue;
    std::string field = internal::Index("linux.namespaces", i) + ".path";
    UniqueFd fd(open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError(field + ": open " + ns.path);
    int type = ioctl(fd.get(), NS_GET_NSTYPE);
    int err = errno;
    fd.reset();
    if (type < 0) {
      return Error(Code::kInvalidArgument, field + ": " + ns.path + " is not a namespace (" + strerror(err) + ")");
    }
    const NamespaceType* want = FindNamespaceType(ns.type);
    if (want == nullptr || type != want->clone_flag) {
      return Error(Code::kInvalidArgument, field + ": " + ns.path + " is not a namespace of type " + ns.type);
    }
  }
  return Status::Ok();
}

}  // namespace kata::oci
