// Undo on the way out unless the work completed: a step that made something
// (a mount, a VM) arms a Rollback; the function dismisses them all once
// nothing can fail any more. Guards run in reverse order of creation.
#pragma once

#include <functional>
#include <utility>

namespace kata {

class Rollback {
 public:
  explicit Rollback(std::function<void()> undo) : undo_(std::move(undo)) {}
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;
  ~Rollback() {
    if (undo_) undo_();
  }
  void Dismiss() { undo_ = nullptr; }

 private:
  std::function<void()> undo_;
};

}  // namespace kata
