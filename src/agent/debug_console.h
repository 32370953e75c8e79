// Kata's debug console (kernel parameter agent.debug_console, set by
// [agent.kata] debug_console_enabled): a root shell in the guest, outside
// every container, on a virtio console port: the tty /dev/hvc0 in the guest,
// a unix socket on the host (`kata-runtime exec SANDBOX_ID` with no command
// attaches to it, like a serial console). The shell keeps running between
// sessions and is started again when it exits. It is the host's static
// busybox, which the runtime puts into the shared directory
// (common/guest_paths.h kDebugShell): it starts once CreateSandbox has mounted
// the share.
#pragma once

namespace kata::agent {

// Serves the console on a thread of its own.
void StartDebugConsole();

}  // namespace kata::agent
