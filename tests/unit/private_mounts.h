// For unit tests that mount (loop devices, overlays, tmpfs): the test
// process enters a mount namespace of its own, private both ways, so that
// nothing it mounts reaches the host (each test case is its own process
// under ctest), and gets a fresh directory below /tmp to work in.
#pragma once

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace kata::test_util {

inline ::testing::AssertionResult EnterPrivateMountNamespace() {
  if (unshare(CLONE_NEWNS) != 0) return ::testing::AssertionFailure() << "unshare(CLONE_NEWNS): " << strerror(errno);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return ::testing::AssertionFailure() << "make / private: " << strerror(errno);
  }
  return ::testing::AssertionSuccess();
}

// A new directory /tmp/<prefix>.XXXXXX (0700); "" if none could be made.
inline std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
  return mkdtemp(tmpl.data()) ? tmpl : "";
}

}  // namespace kata::test_util
