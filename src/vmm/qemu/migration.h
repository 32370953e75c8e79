// VM templating over QEMU's migration: the device state goes to / comes from a
// file, guest RAM stays in the memory-backend file (x-ignore-shared: shared
// RAM is neither sent nor expected in the stream). Kata does the same
// (virtcontainers/qemu.go, bootFromTemplate / saveSandbox).
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"
#include "vmm/qemu/qmp.h"

namespace kata::vmm::qemu {

// The stream goes through a file we open and pass to QEMU over QMP (getfd,
// then the "fd:" URI) rather than Kata's "exec:cat": no shell, works under
// QEMU's -sandbox spawn=deny, and the state file is created 0600 by us.
std::string MigrationUri();

// Pauses the VM, streams its state to `path` and waits for completion.
Status SaveState(QmpClient& qmp, const std::string& path, std::chrono::milliseconds timeout);
// On a QEMU started with -incoming defer: loads `path`, then resumes the VM.
Status RestoreState(QmpClient& qmp, const std::string& path, std::chrono::milliseconds timeout);

}  // namespace kata::vmm::qemu
