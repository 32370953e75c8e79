// Command-line input the CLI must refuse with a clear error, never a crash
// (issue 12, lows): container ids, signals, exec --user, update's numbers.
#include <signal.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/debug_console.h"
#include "cli/parse.h"
#include "cli/signals.h"
#include "cli/state_dir.h"

namespace kata::cli {
namespace {

TEST(ValidateId, AcceptsRuncsAlphabet) {
  std::vector<std::string> ids = {"a", "abc-DEF_123", "x+y.z", "..a", "a..", std::string(64, 'f')};
  for (const std::string& id : ids) {
    EXPECT_TRUE(ValidateId(id).ok()) << id << ": " << ValidateId(id).message();
  }
  EXPECT_TRUE(ValidateId(std::string(kMaxIdLength, 'a')).ok());
}

TEST(ValidateId, RefusesPathsAndOtherCharacters) {
  for (const char* id : {".", "..", "a/b", "../x", "/abs", "a b", "a,b", "a:b", "a\nb", "é"}) {
    Status st = ValidateId(id);
    EXPECT_FALSE(st.ok()) << id;
    EXPECT_NE(st.message().find("invalid container id format"), std::string::npos) << st.message();
  }
  EXPECT_EQ(ValidateId("").message(), "container id cannot be empty");
}

TEST(ValidateId, AHugeIdIsAnErrorNotACrash) {
  // std::regex recursed once per character: 50,000 overflowed the stack.
  for (size_t n : {kMaxIdLength + 1, size_t{50000}, size_t{1000000}}) {
    Status st = ValidateId(std::string(n, 'a'));
    ASSERT_FALSE(st.ok()) << n;
    EXPECT_NE(st.message().find("container id too long: " + std::to_string(n) + " characters"), std::string::npos)
        << st.message();
    EXPECT_LT(st.message().size(), 200u) << "the message should not quote the whole id";
  }
}

TEST(DebugConsoleSocket, ValidatesTheIdBeforeBuildingAPath) {
  // "../../../tmp/x" would have named /tmp/x/console.sock.
  for (const char* id : {"../../../tmp/x", "..", "a/b"}) {
    auto r = DebugConsoleSocket(id);
    ASSERT_FALSE(r.ok()) << id;
    EXPECT_NE(r.status().message().find("invalid container id format"), std::string::npos) << r.status().message();
  }
  auto none = DebugConsoleSocket("no-such-sandbox-for-cli-parse-test");
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_EQ(*none, "");
}

TEST(ParseSignal, NamesAndNumbers) {
  EXPECT_EQ(*ParseSignal("9"), SIGKILL);
  EXPECT_EQ(*ParseSignal("KILL"), SIGKILL);
  EXPECT_EQ(*ParseSignal("sigterm"), SIGTERM);
  EXPECT_EQ(*ParseSignal("64"), 64);
}

TEST(ParseSignal, OutOfRangeNumbersAreErrorsNotAborts) {
  // std::stoi threw out_of_range on this, and nothing caught it.
  auto r = ParseSignal("99999999999999999999");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "invalid signal \"99999999999999999999\": signal numbers are 1 to 64");
  for (const char* bad : {"0", "65", "4294967305", "000000000000000000000000000009999"}) {
    EXPECT_FALSE(ParseSignal(bad).ok()) << bad;
  }
  auto unknown = ParseSignal("SIGFOO");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown signal \"SIGFOO\""), std::string::npos);
  EXPECT_FALSE(ParseSignal("").ok());
  EXPECT_FALSE(ParseSignal("-9").ok());
}

TEST(ParseUserSpec, UidAndGid) {
  auto u = ParseUserSpec("1000");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->uid, 1000u);
  EXPECT_FALSE(u->gid.has_value());
  u = ParseUserSpec("0:4294967294");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->uid, 0u);
  EXPECT_EQ(*u->gid, 4294967294u);
}

TEST(ParseUserSpec, BadInputIsAnErrorNotAnAbort) {
  auto r = ParseUserSpec("abc");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("invalid user \"abc\": want UID[:GID]", 0), 0u) << r.status().message();
  for (const char* bad : {"", ":", "1:", ":1", "1:abc", "-1", "1:-1", "4294967295", "99999999999999999999",
                          "1:2:3", " 1", "1 ", "+1", "0x10", "root"}) {
    EXPECT_FALSE(ParseUserSpec(bad).ok()) << bad;
  }
}

TEST(ParseInteger, RangeAndErrors) {
  EXPECT_EQ(*ParseInteger("-1", "--memory-swap"), -1);
  EXPECT_EQ(*ParseInteger("9223372036854775807", "--memory"), INT64_MAX);
  auto r = ParseInteger("12x", "--memory");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "invalid --memory \"12x\": want an integer");
  r = ParseInteger("9223372036854775808", "--memory");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("want an integer from"), std::string::npos) << r.status().message();
  EXPECT_FALSE(ParseInteger("0", "pid", 1, 10).ok());
  EXPECT_FALSE(ParseInteger("", "pid").ok());
  // Long input is quoted shortened.
  r = ParseInteger(std::string(10000, 'x'), "--memory");
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.status().message().size(), 200u);
}

}  // namespace
}  // namespace kata::cli
