#include "vmm/qemu/migration.h"

#include <fcntl.h>
#include <unistd.h>

#include <thread>

#include "common/unique_fd.h"

namespace kata::vmm::qemu {
namespace {

constexpr const char* kFdName = "vm-state";

// Hands QEMU an open file as the named fd "vm-state" (QMP getfd): QEMU
// needs neither a shell nor the right to open the path itself.
Status PassFile(QmpClient& qmp, const std::string& path, int flags) {
  UniqueFd fd(open(path.c_str(), flags | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError("open " + path);
  return qmp.ExecuteWithFd("getfd", {{"fdname", kFdName}}, fd.get()).status();  // QEMU keeps its own copy
}

// Without it the whole RAM would be copied into the stream (and, on restore,
// over the memory file's pages, unsharing all of them).
Status IgnoreSharedRam(QmpClient& qmp) {
  nlohmann::json caps = {{"capabilities", {{{"capability", "x-ignore-shared"}, {"state", true}}}}};
  return qmp.Execute("migrate-set-capabilities", caps).status();
}

// Polls query-migrate: both directions report "completed" or "failed" there.
Status WaitForMigration(QmpClient& qmp, const std::string& what, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    ASSIGN_OR_RETURN(nlohmann::json r, qmp.Execute("query-migrate"));
    std::string status = r.is_object() ? r.value("status", "") : "";
    if (status == "completed") return Status::Ok();
    if (status == "failed" || status == "cancelled") {
      return Error(Code::kInternal, what + " failed: " + r.value("error-desc", status));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Error(Code::kDeadlineExceeded, what + " did not complete in " +
                                                std::to_string(timeout.count() / 1000) + " s (status \"" + status + "\")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace

std::string MigrationUri() { return std::string("fd:") + kFdName; }

Status SaveState(QmpClient& qmp, const std::string& path, std::chrono::milliseconds timeout) {
  // Paused first: the state must be the one of a guest that does nothing
  // (the agent waiting for its host), not a moving target.
  RETURN_IF_ERROR(qmp.Execute("stop").status());
  RETURN_IF_ERROR(IgnoreSharedRam(qmp));
  RETURN_IF_ERROR(PassFile(qmp, path, O_WRONLY | O_CREAT | O_TRUNC));
  RETURN_IF_ERROR(qmp.Execute("migrate", {{"uri", MigrationUri()}}).status());
  return WaitForMigration(qmp, "saving the VM state to " + path, timeout);
}

Status RestoreState(QmpClient& qmp, const std::string& path, std::chrono::milliseconds timeout) {
  RETURN_IF_ERROR(IgnoreSharedRam(qmp));
  RETURN_IF_ERROR(PassFile(qmp, path, O_RDONLY));
  RETURN_IF_ERROR(qmp.Execute("migrate-incoming", {{"uri", MigrationUri()}}).status());
  RETURN_IF_ERROR(WaitForMigration(qmp, "loading the VM state from " + path, timeout));
  return qmp.Execute("cont").status();
}

}  // namespace kata::vmm::qemu
