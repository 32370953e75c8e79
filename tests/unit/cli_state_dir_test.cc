// kata-runtime's container record keeps the identities of its processes.
#include <gtest/gtest.h>

#include "cli/state_dir.h"
#include "common/fs.h"

namespace kata::cli {
namespace {

TEST(ContainerRecord, KeepsTheIdentitiesAndLoadsOldRecords) {
  char tmpl[] = "/tmp/cli_record_test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  GlobalOptions g;
  g.root = tmpl;
  ContainerRecord r;
  r.id = "c1";
  r.bundle = "/b";
  r.monitor = {123, 456};
  r.service = {789, 1011};
  r.annotations = {{"org.example/k", "v"}};
  ASSERT_TRUE(fs::MkdirAll(StateDirOf(g, "c1"), 0700).ok());
  ASSERT_TRUE(SaveRecord(g, r).ok());
  auto loaded = LoadRecord(g, "c1");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->monitor.pid, 123);
  EXPECT_EQ(loaded->monitor.start_time, 456u);
  EXPECT_EQ(loaded->service.pid, 789);
  EXPECT_EQ(loaded->service.start_time, 1011u);
  EXPECT_EQ(loaded->annotations.at("org.example/k"), "v");  // `state` reports them
  // A record from before start times were kept: start time 0, "unknown".
  ASSERT_TRUE(fs::WriteFileAtomic(StateDirOf(g, "c1") + "/state.json", R"({"id":"c1","service_pid":5})").ok());
  loaded = LoadRecord(g, "c1");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->service.pid, 5);
  EXPECT_EQ(loaded->service.start_time, 0u);
  // A corrupt record is an error, not an exception.
  ASSERT_TRUE(fs::WriteFileAtomic(StateDirOf(g, "c1") + "/state.json", R"({"service_pid":"x"})").ok());
  loaded = LoadRecord(g, "c1");
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("corrupt"), std::string::npos);
  ASSERT_TRUE(fs::WriteFileAtomic(StateDirOf(g, "c1") + "/state.json", R"({"annotations":{"k":1}})").ok());
  EXPECT_FALSE(LoadRecord(g, "c1").ok());
  (void)fs::RemoveAll(tmpl);
}

}  // namespace
}  // namespace kata::cli
