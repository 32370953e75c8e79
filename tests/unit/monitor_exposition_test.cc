// kata-monitor's text exposition: our families, and a guest's text merged
// in only as far as it is well-formed and the guest's to report.
#include <gtest/gtest.h>

#include "monitor/exposition.h"

namespace kata::monitor {
namespace {

TEST(Exposition, FamiliesAreGroupedAcrossSandboxesUnderOneHeader) {
  Exposition e;
  e.Add("kata_hypervisor_fds", "gauge", "fds", {{"sandbox_id", "a"}}, 10);
  e.Add("kata_monitor_running_sandboxes", "gauge", "n", {}, 2);
  e.Add("kata_hypervisor_fds", "gauge", "fds", {{"sandbox_id", "b"}}, 12);
  EXPECT_EQ(e.Text(),
            "# HELP kata_hypervisor_fds fds\n# TYPE kata_hypervisor_fds gauge\n"
            "kata_hypervisor_fds{sandbox_id=\"a\"} 10\nkata_hypervisor_fds{sandbox_id=\"b\"} 12\n"
            "# HELP kata_monitor_running_sandboxes n\n# TYPE kata_monitor_running_sandboxes gauge\n"
            "kata_monitor_running_sandboxes 2\n");
}

TEST(Exposition, LabelValuesAreEscaped) {
  EXPECT_EQ(FormatSample("m", {{"k", "a\"b\\c\nd"}}, 1.5), "m{k=\"a\\\"b\\\\c\\nd\"} 1.5");
}

TEST(Exposition, GuestSamplesGetTheSandboxLabel) {
  Exposition e;
  size_t dropped = e.MergeGuest(
      "# HELP kata_guest_load Load.\n# TYPE kata_guest_load gauge\nkata_guest_load{item=\"load1\"} 0.5\n", "sb1");
  EXPECT_EQ(dropped, 0u);
  EXPECT_EQ(e.Text(), "# HELP kata_guest_load Load.\n# TYPE kata_guest_load gauge\nkata_guest_load{sandbox_id=\"sb1\",item=\"load1\"} 0.5\n");
}

TEST(Exposition, AHostileGuestCannotForgeFloodOrBreakTheOutput) {
  Exposition e;
  std::string text =
      "# TYPE kata_hypervisor_fds gauge\nkata_hypervisor_fds{sandbox_id=\"other\"} 1\n"  // a host family
      "kata_guest_x{sandbox_id=\"other\"} 1\n"                                          // another sandbox's label
      "kata_guest_y{item=\"unterminated} 1\n"                                            // malformed
      "kata_guest_z 1 2 3 4\n"                                                           // trailing junk
      "# TYPE kata_guest_h histogram\nkata_guest_h 1\n"                                  // a type we do not relay
      "kata_guest_ok{item=\"a\\\"b\"} 7\n";
  size_t dropped = e.MergeGuest(text, "sb1");
  EXPECT_EQ(dropped, 5u);
  std::string out = e.Text();
  EXPECT_EQ(out.find("kata_hypervisor"), std::string::npos) << out;
  EXPECT_EQ(out.find("other"), std::string::npos) << out;
  EXPECT_NE(out.find("kata_guest_ok{sandbox_id=\"sb1\",item=\"a\\\"b\"} 7"), std::string::npos) << out;

  Exposition flood;
  std::string many;
  for (int i = 0; i < 100; i++) many += "kata_guest_n{i=\"" + std::to_string(i) + "\"} 1\n";
  EXPECT_EQ(flood.MergeGuest(many, "sb", 10), 90u);
}

TEST(Exposition, ParseSampleReadsWhatFormatSampleWrites) {
  std::string name;
  Labels labels;
  double v = 0;
  ASSERT_TRUE(ParseSample(FormatSample("kata_guest_m", {{"a", "x\"y"}, {"b", "\\"}}, -2.25), &name, &labels, &v));
  EXPECT_EQ(name, "kata_guest_m");
  EXPECT_EQ(labels, (Labels{{"a", "x\"y"}, {"b", "\\"}}));
  EXPECT_EQ(v, -2.25);
  EXPECT_TRUE(ParseSample("m +Inf", &name, &labels, &v));
  EXPECT_FALSE(ParseSample("m{a=1} 2", &name, &labels, &v));
  EXPECT_FALSE(ParseSample("1m 2", &name, &labels, &v));
  EXPECT_FALSE(ParseSample("m", &name, &labels, &v));
}

}  // namespace
}  // namespace kata::monitor
