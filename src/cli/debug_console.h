// `kata-runtime exec SANDBOX_ID` with no command: Kata's guest debug console
// (agent/debug_console.h), a shell on a guest tty. From a terminal: raw mode
// (the guest's tty does the editing), Ctrl-] leaves. From a pipe: ends once
// stdin has ended and the guest has been quiet for a second, so
// `echo 'uname -r' | kata-runtime exec ID` prints the answer and returns.
// Also ends when the VM goes away.
#pragma once

#include <string>

#include "common/status.h"

namespace kata::cli {

// /run/vc/vm/<sandbox>/console.sock, or "" when the sandbox has none. The id
// comes from the command line: it is validated (ValidateId) before it
// becomes part of a path, so "../.." cannot lead to another socket.
Result<std::string> DebugConsoleSocket(const std::string& sandbox_id);
Status RunDebugConsole(const std::string& socket_path);

}  // namespace kata::cli
