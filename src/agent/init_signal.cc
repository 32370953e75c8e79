#include "agent/init_signal.h"

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <thread>

#include "agent/reaper.h"
#include "common/fs.h"
#include "common/log.h"

namespace kata::agent {
namespace {

constexpr auto kWatchFor = std::chrono::seconds(10);
constexpr auto kPollEvery = std::chrono::milliseconds(20);

struct SignalView {
  bool init_of_pidns = false;  // last NSpid field is 1
  uint64_t caught = 0;         // SigCgt
  uint64_t ignored = 0;        // SigIgn
};

bool ReadView(pid_t pid, SignalView* v) {
  auto text = fs::ReadFile("/proc/" + std::to_string(pid) + "/status");
  if (!text.ok()) return false;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string key;
    f >> key;
    if (key == "NSpid:") {
      std::string last;
      for (std::string x; f >> x;) last = x;
      v->init_of_pidns = last == "1";
    } else if (key == "SigCgt:") {
      std::string hex;
      f >> hex;
      v->caught = std::stoull(hex, nullptr, 16);
    } else if (key == "SigIgn:") {
      std::string hex;
      f >> hex;
      v->ignored = std::stoull(hex, nullptr, 16);
    }
  }
  return true;
}

uint64_t Bit(int sig) { return uint64_t{1} << (sig - 1); }

void Watch(pid_t pid, int sig) {
  auto deadline = std::chrono::steady_clock::now() + kWatchFor;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(kPollEvery);
    if (Reaper::Get().Peek(pid)) return;  // exited (and not yet reused: the reaper holds it)
    SignalView v;
    if (!ReadView(pid, &v) || (v.ignored & Bit(sig))) return;
    if (v.caught & Bit(sig)) {
      log::Info("signal " + std::to_string(sig) + " sent again to " + std::to_string(pid) +
                ": it had no handler yet when first sent");
      kill(pid, sig);
      return;
    }
  }
}

}  // namespace

void RedeliverWhenCaught(pid_t pid, int sig) {
  if (sig <= 0 || sig >= 64 || sig == SIGKILL || sig == SIGSTOP) return;
  SignalView v;
  if (!ReadView(pid, &v) || !v.init_of_pidns) return;
  if ((v.caught | v.ignored) & Bit(sig)) return;  // delivered, or ignored on purpose
  std::thread(Watch, pid, sig).detach();
}

}  // namespace kata::agent
