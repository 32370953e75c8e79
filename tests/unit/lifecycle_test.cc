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

// Task API events: start before exit, exit once, whatever comes first.
TEST(ProcessEventOrder, ExitAfterStartIsPublishedAtOnce) {
  auto start = NextProcessStep(ProcessEvents::kCreated, ProcessEvent::kStart, "p");
  ASSERT_TRUE(start.ok());
  EXPECT_TRUE(start->publish_start);
  EXPECT_FALSE(start->publish_exit);
  auto exit = NextProcessStep(start->to, ProcessEvent::kExit, "p");
  ASSERT_TRUE(exit.ok());
  EXPECT_TRUE(exit->publish_exit && exit->records_exit);
  EXPECT_EQ(exit->to, ProcessEvents::kExitPublished);
  auto again = NextProcessStep(exit->to, ProcessEvent::kExit, "p");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->publish_exit || again->records_exit);
}

TEST(ProcessEventOrder, AnExitBeforeTheStartIsHeldUntilIt) {
  auto exit = NextProcessStep(ProcessEvents::kCreated, ProcessEvent::kExit, "p");
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->to, ProcessEvents::kExitHeld);
  EXPECT_TRUE(exit->records_exit);
  EXPECT_FALSE(exit->publish_exit);
  auto second = NextProcessStep(exit->to, ProcessEvent::kExit, "p");
  EXPECT_FALSE(second->records_exit);  // the first exit's status stays
  auto start = NextProcessStep(exit->to, ProcessEvent::kStart, "p");
  ASSERT_TRUE(start.ok());
  EXPECT_TRUE(start->publish_start && start->publish_exit);
  EXPECT_EQ(start->to, ProcessEvents::kExitPublished);
}

TEST(ProcessEventOrder, ASecondStartIsRefused) {
  for (ProcessEvents s : {ProcessEvents::kStarted, ProcessEvents::kExitPublished}) {
    auto r = NextProcessStep(s, ProcessEvent::kStart, "exec1");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(), "process exec1 already started");
  }
}

}  // namespace
}  // namespace kata::sandbox
