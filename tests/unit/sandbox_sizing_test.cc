// CRI's pod sizing annotations (src/shim/sandbox_config.h) come from whoever
// creates the pod: overflow and absurd sizes are refused, naming the
// annotation and the limit (issue 12). (Named cli_* only to sit with the
// other tests of that issue.)
#include "sandbox/sandbox_config.h"

#include <gtest/gtest.h>

namespace kata::sandbox {
namespace {

constexpr char kMem[] = "io.kubernetes.cri.sandbox-memory";
constexpr char kQuota[] = "io.kubernetes.cri.sandbox-cpu-quota";
constexpr char kPeriod[] = "io.kubernetes.cri.sandbox-cpu-period";

sandbox::SandboxConfig Defaults() {
  sandbox::SandboxConfig sc;
  sc.vm.memory_mib = 256;
  sc.vm.vcpus = 1;
  return sc;
}

const SizingLimits kHost{4096, 4};  // a 4 GiB, 4-CPU host

TEST(SizeFromAnnotations, SizesTheVm) {
  auto sc = Defaults();
  ASSERT_TRUE(SizeFromAnnotations({{kMem, std::to_string(300LL << 20)}, {kQuota, "250000"}, {kPeriod, "100000"}}, &sc,
                                  kHost)
                  .ok());
  EXPECT_EQ(sc.vm.memory_mib, 300);
  EXPECT_EQ(sc.vm.vcpus, 3);
  // One byte over a MiB rounds up; below the default keeps the default.
  sc = Defaults();
  ASSERT_TRUE(SizeFromAnnotations({{kMem, std::to_string((300LL << 20) + 1)}}, &sc, kHost).ok());
  EXPECT_EQ(sc.vm.memory_mib, 301);
  sc = Defaults();
  ASSERT_TRUE(SizeFromAnnotations({{kMem, "1048576"}}, &sc, kHost).ok());
  EXPECT_EQ(sc.vm.memory_mib, 256);
}

TEST(SizeFromAnnotations, NoLimitKeepsTheDefaults) {
  // containerd writes 0 (and quota -1) for "no limit".
  auto sc = Defaults();
  ASSERT_TRUE(SizeFromAnnotations({{kMem, "0"}, {kQuota, "-1"}, {kPeriod, "100000"}}, &sc, kHost).ok());
  ASSERT_TRUE(SizeFromAnnotations({}, &sc, kHost).ok());
  EXPECT_EQ(sc.vm.memory_mib, 256);
  EXPECT_EQ(sc.vm.vcpus, 1);
}

TEST(SizeFromAnnotations, HugeMemoryIsRefusedNotWrapped) {
  // 2^51 bytes = 2^31 MiB: the int wrapped to -m -2147483648.
  auto sc = Defaults();
  Status st = SizeFromAnnotations({{kMem, std::to_string(1LL << 51)}}, &sc, kHost);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(kMem), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("4096 MiB"), std::string::npos) << st.message();
  EXPECT_EQ(sc.vm.memory_mib, 256) << "a refused annotation must leave the config alone";
  // Just above the host's memory: refused; at it: accepted.
  EXPECT_FALSE(SizeFromAnnotations({{kMem, std::to_string((4096LL << 20) + 1)}}, &sc, kHost).ok());
  EXPECT_TRUE(SizeFromAnnotations({{kMem, std::to_string(4096LL << 20)}}, &sc, kHost).ok());
  EXPECT_EQ(sc.vm.memory_mib, 4096);
  // Without a host limit, still never wrapped.
  sc = Defaults();
  EXPECT_FALSE(SizeFromAnnotations({{kMem, std::to_string(1LL << 51)}}, &sc, SizingLimits{}).ok());
  EXPECT_FALSE(SizeFromAnnotations({{kMem, "9223372036854775807"}}, &sc, SizingLimits{}).ok());
  EXPECT_EQ(sc.vm.memory_mib, 256);
}

TEST(SizeFromAnnotations, UnparsableValuesAreRefusedNamingTheAnnotation) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {kMem, "99999999999999999999"}, {kMem, "1G"}, {kMem, " 5"}, {kQuota, "1e9"}, {kPeriod, "x"}}) {
    auto sc = Defaults();
    Status st = SizeFromAnnotations({{key, value}, {kQuota, key == kQuota ? value : "100000"}}, &sc, kHost);
    ASSERT_FALSE(st.ok()) << key << "=" << value;
    EXPECT_NE(st.message().find(key), std::string::npos) << st.message();
  }
}

TEST(SizeFromAnnotations, CpuQuotaCannotOverflowAndIsCappedAtTheHost) {
  auto sc = Defaults();
  // quota + period - 1 overflowed before.
  ASSERT_TRUE(SizeFromAnnotations({{kQuota, "9223372036854775807"}, {kPeriod, "100000"}}, &sc, kHost).ok());
  EXPECT_EQ(sc.vm.vcpus, 4);
  sc = Defaults();
  Status st = SizeFromAnnotations({{kQuota, "100000"}, {kPeriod, "1"}}, &sc, kHost);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(kPeriod), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("1000 to 1000000"), std::string::npos) << st.message();
  EXPECT_FALSE(SizeFromAnnotations({{kQuota, "100000"}, {kPeriod, "1000001"}}, &sc, kHost).ok());
  EXPECT_EQ(sc.vm.vcpus, 1);
}

TEST(SizeFromAnnotations, HostLimitsAreThisHosts) {
  SizingLimits l = HostSizingLimits();
  EXPECT_GT(l.max_memory_mib, 0);
  EXPECT_GT(l.max_vcpus, 0);
}

}  // namespace
}  // namespace kata::sandbox
