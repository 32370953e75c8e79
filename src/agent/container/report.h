// The report pipe: how a cloned child tells its parent how setup went.
//
// The child holds the write end (O_CLOEXEC) and sends fixed-size records, each
// one atomic write (< PIPE_BUF): kReady once set up and blocked before exec,
// kSetupError / kExecError with the failing step. After a successful exec
// the pipe just closes (EOF): "EOF after kReady" means the process is running.
#pragma once

#include <cstdint>
#include <optional>

#include "agent/container/child_util.h"
#include "common/status.h"

namespace kata::agent {

enum class ReportKind : uint32_t { kReady = 1, kSetupError = 2, kExecError = 3 };

struct Report {
  uint32_t kind = 0;
  int32_t err = 0;   // errno, 0 = none
  int32_t code = 0;  // kata::Code when err == 0
  char text[1012] = {};
};
static_assert(sizeof(Report) == 1024, "one atomic pipe write");

namespace child {
// Child side (no allocation). Failures to write are ignored: the parent then
// sees EOF and reports that the child died.
void SendReport(int fd, ReportKind kind, const Step& step);
void SendReady(int fd);
}  // namespace child

// Parent side: the next record, or nullopt at EOF.
Result<std::optional<Report>> ReadReport(int fd);
// The Status a setup/exec error record describes.
Status ReportStatus(const Report& report);

}  // namespace kata::agent
