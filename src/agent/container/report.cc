#include "agent/container/report.h"

#include <unistd.h>

#include <cerrno>

namespace kata::agent {
namespace child {

void SendReport(int fd, ReportKind kind, const Step& step) {
  Report r;
  r.kind = static_cast<uint32_t>(kind);
  r.err = step.err;
  r.code = static_cast<int32_t>(step.code);
  size_t n = 0;
  for (const char* part : step.text) {
    for (const char* p = part; p != nullptr && *p != '\0' && n + 1 < sizeof r.text; ++p) {
      r.text[n++] = *p;
    }
  }
  r.text[n] = '\0';
  WriteAll(fd, &r, sizeof r);
}

void SendReady(int fd) { SendReport(fd, ReportKind::kReady, Step{}); }

}  // namespace child

Result<std::optional<Report>> ReadReport(int fd) {
  Report r;
  char* p = reinterpret_cast<char*>(&r);
  size_t got = 0;
  while (got < sizeof r) {
    ssize_t n = read(fd, p + got, sizeof r - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read container setup report");
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got == 0) return std::optional<Report>();
  if (got != sizeof r) return Error(Code::kInternal, "truncated container setup report");
  r.text[sizeof r.text - 1] = '\0';
  return std::optional<Report>(r);
}

Status ReportStatus(const Report& r) {
  std::string text = r.text;
  if (r.err != 0) return ErrnoError(text, r.err);
  Code code = static_cast<Code>(r.code);
  if (code == Code::kOk) code = Code::kInternal;
  return Error(code, text);
}

}  // namespace kata::agent
