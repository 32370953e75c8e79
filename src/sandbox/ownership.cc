#include "sandbox/ownership.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/fs.h"

namespace kata::sandbox {
namespace {

std::string MarkPath(const std::string& run_dir) { return fs::JoinPath(run_dir, "owner"); }
std::string VmmPath(const std::string& run_dir) { return fs::JoinPath(run_dir, "vmm.identity"); }

}  // namespace

std::string ContainerdOwner(const std::string& address, const std::string& ns) {
  return "containerd " + address + " " + ns;
}

std::string KataRuntimeOwner(const std::string& service_socket) { return "kata-runtime " + service_socket; }

Result<UniqueFd> ClaimVmDir(const std::string& run_dir, const std::string& owner) {
  std::string path = MarkPath(run_dir);
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError("mark " + run_dir + " as this sandbox's");
  if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return ErrnoError("lock " + path);
  if (!fs::WriteAll(fd.get(), owner)) return ErrnoError("write " + path);
  return fd;
}

std::string WhyNotMine(const std::string& run_dir, const std::string& owner, UniqueFd* lock) {
  std::string path = MarkPath(run_dir);
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return fs::Exists(run_dir) ? run_dir + " has no owner mark" : "";
  if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return "a live sandbox holds " + path;
  auto mark = fs::ReadFile(path);
  if (owner != kAnyOwner && (!mark.ok() || *mark != owner)) {
    return run_dir + " belongs to " + (mark.ok() ? "\"" + *mark + "\"" : std::string("someone else"));
  }
  *lock = std::move(fd);
  return "";
}

Status RecordVmm(const std::string& run_dir, pid_t pid) {
  ASSIGN_OR_RETURN(proc::Identity id, proc::IdentityOf(pid));
  return fs::WriteFileAtomic(VmmPath(run_dir), proc::ToText(id), 0600);
}

Result<proc::Identity> RecordedVmm(const std::string& run_dir) {
  ASSIGN_OR_RETURN(std::string text, fs::ReadFile(VmmPath(run_dir)));
  return proc::IdentityFromText(text);
}

}  // namespace kata::sandbox
