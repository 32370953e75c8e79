#include "common/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "common/json_escape.h"

namespace kata::log {
namespace {

struct Sink {
  int fd = 2;
  Level min = Level::kInfo;
  Format format = Format::kText;
  std::string component;
  std::mutex mu;
};

Sink& sink() {
  static Sink s;
  return s;
}

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warning";
    case Level::kError: return "error";
  }
  return "info";
}

std::string Rfc3339Now() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count() % 1000000000;
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%09lldZ", buf, static_cast<long long>(ns));
  return out;
}

}  // namespace

void Configure(int fd, Level min_level, Format format) {
  std::lock_guard<std::mutex> lock(sink().mu);
  sink().fd = fd;
  sink().min = min_level;
  sink().format = format;
}

bool ConfigureFile(const std::string& path, Level min_level, Format format) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  Configure(fd, min_level, format);
  return true;
}

void SetComponent(const std::string& name) {
  std::lock_guard<std::mutex> lock(sink().mu);
  sink().component = name;
}

bool Enabled(Level level) {
  std::lock_guard<std::mutex> lock(sink().mu);
  return level >= sink().min;
}

void Write(Level level, const std::string& msg) {
  Sink& s = sink();
  std::lock_guard<std::mutex> lock(s.mu);
  if (level < s.min) return;
  std::string line;
  if (s.format == Format::kJson) {
    line = "{\"level\":\"" + std::string(LevelName(level)) + "\",\"msg\":\"" + JsonEscape(msg) +
           "\",\"time\":\"" + Rfc3339Now() + "\"}\n";
  } else {
    line = Rfc3339Now() + " " + LevelName(level) + " ";
    if (!s.component.empty()) line += s.component + ": ";
    line += msg + "\n";
  }
  // One write per line so concurrent writers (and the O_APPEND file) never interleave.
  ssize_t unused = ::write(s.fd, line.data(), line.size());
  (void)unused;
}

}  // namespace kata::log
