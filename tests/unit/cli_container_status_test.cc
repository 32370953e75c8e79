// The OCI state stays consistent (issue 12): a created/running/paused
// container always reports a live pid; one whose monitor is gone is stopped.
#include "cli/container_status.h"

#include <gtest/gtest.h>

namespace kata::cli {
namespace {

TEST(ReconcileStatus, ALiveMonitorReportsItsPid) {
  for (const char* s : {"created", "running", "paused", "pausing"}) {
    ReportedStatus r = ReconcileStatus(s, 4242);
    EXPECT_EQ(r.status, s);
    EXPECT_EQ(r.pid, 4242);
    EXPECT_FALSE(r.kill_orphan);
  }
}

TEST(ReconcileStatus, AGoneMonitorMeansStoppedAndTheOrphanIsKilled) {
  // Before: {"status": "running", "pid": 0}.
  for (const char* s : {"created", "running", "paused", "pausing"}) {
    ReportedStatus r = ReconcileStatus(s, 0);
    EXPECT_EQ(r.status, "stopped") << s;
    EXPECT_EQ(r.pid, 0) << s;
    EXPECT_TRUE(r.kill_orphan) << s;
  }
}

TEST(ReconcileStatus, StoppedHasNoPid) {
  for (pid_t monitor : {0, 4242}) {
    ReportedStatus r = ReconcileStatus("stopped", monitor);
    EXPECT_EQ(r.status, "stopped");
    EXPECT_EQ(r.pid, 0);
    EXPECT_FALSE(r.kill_orphan);
  }
}

}  // namespace
}  // namespace kata::cli
