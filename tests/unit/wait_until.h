// How a unit test waits for something to happen: WaitUntil polls the
// condition, with a bound, instead of assuming it after a fixed sleep (the
// integration tests' itest::WaitUntil, tests/integration/harness.h, does the
// same for them). A plain sleep stays only with a comment saying why: time
// that must pass, or a check that nothing happens in it.
#pragma once

#include <chrono>
#include <thread>

namespace kata::test_util {

// Calls `done` at once, then every `poll`, until it returns true (-> true) or
// `timeout` has passed (-> false; its last call is made past the deadline, so
// a condition met only just in time still counts).
template <typename Pred>
bool WaitUntil(Pred&& done, std::chrono::milliseconds timeout,
               std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const bool last = std::chrono::steady_clock::now() >= deadline;
    if (done()) return true;
    if (last) return false;
    std::this_thread::sleep_for(poll);
  }
}

}  // namespace kata::test_util
