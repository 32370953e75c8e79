#include "sandbox/readonly_root.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <vector>

#include "common/fs.h"
#include "common/in_root.h"
#include "common/unique_fd.h"

namespace kata::sandbox {
namespace {

std::string Relative(const std::string& dest) {
  size_t i = dest.find_first_not_of('/');
  return i == std::string::npos ? "" : dest.substr(i);
}

// "a/b" is below "a" (and below "": the root itself is no mount here).
bool IsBelow(const std::string& path, const std::string& dir) {
  return !dir.empty() && (path == dir || path.rfind(dir + "/", 0) == 0);
}

bool IsFileBind(const nlohmann::json& m) {
  if (!m.contains("source") || !m["source"].is_string()) return false;
  bool bind = m.value("type", "") == "bind";
  if (m.contains("options") && m["options"].is_array()) {
    for (const auto& o : m["options"]) bind = bind || o == "bind" || o == "rbind";
  }
  struct stat st;
  return bind && stat(m["source"].get<std::string>().c_str(), &st) == 0 && !S_ISDIR(st.st_mode);
}

Status MakeFileInRoot(int rootfd, const std::string& rel) {
  if (!UniqueFd(fs::MkdirAllInRoot(rootfd, fs::Dirname(rel).c_str(), 0755)).valid()) {
    return ErrnoError("create the parent of mount point /" + rel + " in the read-only rootfs");
  }
  struct open_how how = {};
  how.flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NONBLOCK;
  how.mode = 0644;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd(static_cast<int>(syscall(SYS_openat2, rootfd, rel.c_str(), &how, sizeof how)));
  if (!fd.valid() && errno != EISDIR) return ErrnoError("create mount point /" + rel + " in the read-only rootfs");
  return Status::Ok();
}

Status MakeDirInRoot(int rootfd, const std::string& rel) {
  if (!UniqueFd(fs::MkdirAllInRoot(rootfd, rel.c_str(), 0755)).valid()) {
    return ErrnoError("create /" + rel + " in the read-only rootfs");
  }
  return Status::Ok();
}

}  // namespace

Status PrepareReadonlyRoot(const std::string& rootfs, const nlohmann::json& spec) {
  UniqueFd root(open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return ErrnoError("open rootfs " + rootfs);
  std::vector<std::string> earlier;  // destinations mounted before this one
  auto missing = [&](const std::string& rel) {
    UniqueFd fd(fs::OpenInRoot(root.get(), rel.c_str(), O_PATH));
    return !fd.valid() && errno == ENOENT;
  };
  auto inside_earlier = [&](const std::string& rel) {
    for (const std::string& d : earlier)
      if (IsBelow(rel, d) && rel != d) return true;
    return false;
  };
  if (spec.contains("mounts") && spec["mounts"].is_array()) {
    for (const auto& m : spec["mounts"]) {
      if (!m.is_object() || !m.contains("destination") || !m["destination"].is_string()) continue;
      std::string rel = Relative(m["destination"].get<std::string>());
      if (!rel.empty() && !inside_earlier(rel) && missing(rel)) {
        RETURN_IF_ERROR(IsFileBind(m) ? MakeFileInRoot(root.get(), rel) : MakeDirInRoot(root.get(), rel));
      }
      earlier.push_back(rel);
    }
  }
  std::string cwd = spec.contains("process") ? Relative(spec["process"].value("cwd", "/")) : "";
  if (!cwd.empty() && !inside_earlier(cwd) && missing(cwd)) RETURN_IF_ERROR(MakeDirInRoot(root.get(), cwd));
  return Status::Ok();
}

}  // namespace kata::sandbox
