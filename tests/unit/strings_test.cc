#include "common/strings.h"

#include <gtest/gtest.h>

namespace kata {
namespace {

TEST(TailLines, QuotesTheEndOfALog) {
  EXPECT_EQ(TailLines("", 3), "");
  EXPECT_EQ(TailLines("a\nb\nc\n", 2), "b\nc");
  EXPECT_EQ(TailLines("a\nb\nc", 5), "a\nb\nc");
  EXPECT_EQ(TailLines("\n\nx\n", 1), "x");
  EXPECT_EQ(TailLines("abc", 1), "abc");
  EXPECT_EQ(TailLines("a\nb", 1), "b");
}

}  // namespace
}  // namespace kata
