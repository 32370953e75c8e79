// The container lifecycle table (sandbox/lifecycle.h): every allowed move,
// and the refusals with the words the Task API and kata-runtime print.
#include <gtest/gtest.h>

#include "sandbox/lifecycle.h"

namespace kata::sandbox {
namespace {

using S = ContainerState;
using Op = ContainerOp;

S Next(S from, Op op, S paused_from = S::kRunning) {
  auto r = NextState(from, op, "c1", paused_from);
  EXPECT_TRUE(r.ok()) << StateName(from) << ": " << r.status().message();
  return r.ok() ? *r : from;
}

std::string Refused(S from, Op op) {
  auto r = NextState(from, op, "c1");
  EXPECT_FALSE(r.ok()) << StateName(from) << " allowed an operation it must refuse";
  return r.ok() ? "" : r.status().message();
}

TEST(ContainerLifecycle, TheUsualPath) {
  EXPECT_EQ(Next(S::kCreated, Op::kStart), S::kRunning);
  EXPECT_EQ(Next(S::kRunning, Op::kPause), S::kPaused);
  EXPECT_EQ(Next(S::kPaused, Op::kResume, S::kRunning), S::kRunning);
  EXPECT_EQ(Next(S::kRunning, Op::kExec), S::kRunning);
  EXPECT_EQ(Next(S::kStopped, Op::kDelete), S::kStopped);
}

TEST(ContainerLifecycle, PausedBeforeStartResumesToCreated) {
  EXPECT_EQ(Next(S::kCreated, Op::kPause), S::kPaused);
  EXPECT_EQ(Next(S::kPaused, Op::kResume, S::kCreated), S::kCreated);
  EXPECT_EQ(Next(S::kPaused, Op::kStart), S::kPaused);  // runs once resumed
}

TEST(ContainerLifecycle, RefusalsSayWhy) {
  EXPECT_EQ(Refused(S::kStopped, Op::kStart), "cannot start a container that has stopped");
  EXPECT_EQ(Refused(S::kRunning, Op::kStart), "cannot start an already running container");
  EXPECT_EQ(Refused(S::kRunning, Op::kResume), "container c1 is not paused");
  EXPECT_EQ(Refused(S::kPaused, Op::kPause), "container c1 is not running");
  EXPECT_EQ(Refused(S::kStopped, Op::kUpdate), "container c1 is not running");
  EXPECT_EQ(Refused(S::kStopped, Op::kStats), "container c1 is not running");
  EXPECT_EQ(Refused(S::kCreated, Op::kExec), "container c1 is not running");
  EXPECT_EQ(Refused(S::kPaused, Op::kExec), "container c1 is not running");
  EXPECT_EQ(Refused(S::kRunning, Op::kDelete), "cannot delete container c1 that is not stopped: running");
  EXPECT_EQ(Refused(S::kPaused, Op::kDelete), "cannot delete container c1 that is not stopped: paused");
  auto signal = NextState(S::kStopped, Op::kSignalInit, "c1");
  EXPECT_EQ(signal.status().code(), Code::kNotFound);
  EXPECT_EQ(signal.status().message(), "container c1 not running");
}

TEST(ContainerLifecycle, ForceDeleteFromAnyState) {
  for (S s : {S::kCreated, S::kRunning, S::kPaused, S::kStopped}) EXPECT_EQ(Next(s, Op::kForceDelete), S::kStopped);
  EXPECT_EQ(Next(S::kCreated, Op::kDelete), S::kStopped);
}

}  // namespace
}  // namespace kata::sandbox
