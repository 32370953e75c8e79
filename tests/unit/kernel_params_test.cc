// The guest kernel command line the runtime builds per accelerator.
#include <gtest/gtest.h>

#include "sandbox/sandbox_config.h"

namespace kata::sandbox {
namespace {

bool HasWord(const std::string& line, const std::string& word) {
  return (" " + line + " ").find(" " + word + " ") != std::string::npos;
}

TEST(AcceleratorKernelParams, TcgSkipsClockCalibration) {
  std::string p = AcceleratorKernelParams("tcg", "microvm");
  EXPECT_TRUE(HasWord(p, "apic_bus_hz=1000000000")) << p;
  EXPECT_NE(p.find("tsc_early_khz="), std::string::npos) << "microvm under TCG needs the host's TSC rate: " << p;
  EXPECT_EQ(AcceleratorKernelParams("tcg", "q35").find("tsc_early_khz="), std::string::npos);
}

TEST(AcceleratorKernelParams, KvmKeepsTheKernelsDefaults) {
  EXPECT_EQ(AcceleratorKernelParams("kvm", "microvm"), "");
  EXPECT_EQ(AcceleratorKernelParams("kvm", "q35"), "");
}

}  // namespace
}  // namespace kata::sandbox
