#include "vmm/qemu/migration.h"

#include <thread>

namespace kata::vmm::qemu {
namespace {

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
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

std::string ExecSaveUri(const std::string& path) { return "exec:cat > " + ShellQuote(path); }
std::string ExecRestoreUri(const std::string& path) { return "exec:cat " + ShellQuote(path); }

Status SaveState(QmpClient& qmp, const std::string& path, std::chrono::milliseconds timeout) {
  // Paused first: the state must be the one of a guest that does nothing
  // (the agent waiting for its host), not a moving target.
  RETURN_IF_ERROR(qmp.Execute("stop").status());
  RETURN_IF_ERROR(IgnoreSharedRam(qmp));
  RETURN_IF_ERROR(qmp.Execute("migrate", {{"uri", ExecSaveUri(path)}}).status());
  return WaitForMigration(qmp, "saving the VM state to " + path, timeout);
}

Status RestoreState(QmpClient& qmp, const std::string& path, std::chrono::milliseconds timeout) {
  RETURN_IF_ERROR(IgnoreSharedRam(qmp));
  RETURN_IF_ERROR(qmp.Execute("migrate-incoming", {{"uri", ExecRestoreUri(path)}}).status());
  RETURN_IF_ERROR(WaitForMigration(qmp, "loading the VM state from " + path, timeout));
  return qmp.Execute("cont").status();
}

}  // namespace kata::vmm::qemu
