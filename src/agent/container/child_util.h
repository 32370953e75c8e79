// Helpers for code that runs in a freshly cloned child before exec.
//
// The child is made with a raw clone(2) from a multithreaded process (the
// agent), so glibc's fork bookkeeping has not run: such code must not
// allocate memory, take locks, or use glibc calls that signal other threads
// (setuid() & co. do: use the Sys* wrappers here). Everything it needs is
// precomputed by the parent in a plan (plan.h); child code reads plan strings
// through c_str() and reports failures as a Step naming what failed.
#pragma once

#include <sys/types.h>

#include <cstddef>

#include "common/in_root.h"
#include "common/status.h"

namespace kata::agent::child {

// The outcome of one setup step. The message is the concatenation of up to
// three strings that must outlive the step (literals or plan strings), then
// ": strerror(err)" when err != 0.
struct Step {
  bool failed = false;
  int err = 0;
  Code code = Code::kInternal;  // used when err == 0
  const char* text[3] = {nullptr, nullptr, nullptr};
};

inline Step Ok() { return {}; }
inline Step Fail(int err, const char* a, const char* b = nullptr, const char* c = nullptr) {
  Step s;
  s.failed = true;
  s.err = err;
  s.text[0] = a;
  s.text[1] = b;
  s.text[2] = c;
  return s;
}
inline Step FailMsg(Code code, const char* a, const char* b = nullptr, const char* c = nullptr) {
  Step s = Fail(0, a, b, c);
  s.code = code;
  return s;
}

#define CHILD_TRY(expr)                                 \
  do {                                                  \
    ::kata::agent::child::Step _step = (expr);          \
    if (_step.failed) return _step;                     \
  } while (0)

// Raw syscalls: the glibc wrappers broadcast to all threads glibc believes exist.
int SysSetgroups(size_t n, const gid_t* groups);
int SysSetresgid(gid_t gid);
int SysSetresuid(uid_t uid);

// OpenInRoot, MkdirAllInRoot: common/in_root.h.
using fs::MkdirAllInRoot;
using fs::OpenInRoot;
// "/proc/self/fd/<fd>" into buf.
void FdPath(int fd, char (&buf)[32]);

// SetupStdio puts stdio on 0-2 and its sync pipes on 3-4; an fd the child
// keeps across it (the rootfs, mount sources) sits at this number or above.
inline constexpr int kFirstFreeFd = 5;

// write() all of buf; false + errno on failure.
bool WriteAll(int fd, const void* buf, size_t len);
size_t StrLen(const char* s);

}  // namespace kata::agent::child
