// Minimal leveled logging shared by host tools and the (static) guest agent.
// Text: "time level msg"; JSON: {"level":..,"msg":..,"time":..} one per line,
// the format runc writes with --log-format json (Docker and containerd's runc
// shim read the last "error" line as the failure reason).
#pragma once

#include <chrono>
#include <string>

namespace kata::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kText, kJson };

// Where logs go: fd (default 2), the minimum level and the format.
void Configure(int fd, Level min_level, Format format);
// Opens `path` for appending (O_CREAT|O_APPEND) and logs there.
bool ConfigureFile(const std::string& path, Level min_level, Format format);
// A prefix such as "kata-agent" put in front of text lines.
void SetComponent(const std::string& name);

void Write(Level level, const std::string& msg);
// Whether a message of this level would be written (to skip costly formatting).
bool Enabled(Level level);
inline void Debug(const std::string& m) { Write(Level::kDebug, m); }
inline void Info(const std::string& m) { Write(Level::kInfo, m); }
inline void Warn(const std::string& m) { Write(Level::kWarn, m); }
inline void Error(const std::string& m) { Write(Level::kError, m); }

// Debug timing of a multi-step operation: Mark("step") logs the time since
// the previous mark (or construction) as "what: step N ms", at debug level.
class StepTimer {
 public:
  explicit StepTimer(std::string what) : what_(std::move(what)), last_(std::chrono::steady_clock::now()) {}
  void Mark(const char* step) {
    auto now = std::chrono::steady_clock::now();
    if (Enabled(Level::kDebug)) {
      Debug(what_ + ": " + step + " " +
            std::to_string(std::chrono::duration<double, std::milli>(now - last_).count()) + " ms");
    }
    last_ = now;
  }

 private:
  std::string what_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace kata::log
