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

// "exec:" URI that writes (save) or reads (restore) `path` through /bin/sh:
// the path is single-quoted, so any byte but NUL is safe.
std::string ExecSaveUri(const std::string& path);
std::string ExecRestoreUri(const std::string& path);

// Pauses the VM, streams its state to `path` and waits for completion.
Status SaveState(QmpClient& qmp, const std::string& path, std::chrono::milliseconds timeout);
// On a QEMU started with -incoming defer: loads `path`, then resumes the VM.
Status RestoreState(QmpClient& qmp, const std::string& path, std::chrono::milliseconds timeout);

}  // namespace kata::vmm::qemu
