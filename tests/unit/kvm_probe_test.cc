#include "vmm/kvm_probe.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace kata::vmm {
namespace {

namespace fs = std::filesystem;

bool KvmUsable() {
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  close(fd);
  return true;
}

class KvmProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kvm_probe_test." + std::to_string(getpid()));
    fs::create_directories(dir_);
    opts_.cache_path = (dir_ / "sub" / "accel-probe").string();  // Parent created on demand.
    opts_.boot_id_path = (dir_ / "boot_id").string();
    SetBootId("boot-1");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void SetBootId(const std::string& id) { std::ofstream(opts_.boot_id_path) << id << "\n"; }

  fs::path dir_;
  ProbeOptions opts_;
};

TEST_F(KvmProbeTest, ForcedTcgNeverProbes) {
  AccelDecision d = ChooseAccelerator("tcg", opts_);
  EXPECT_EQ(d.accel, "tcg");
  EXPECT_EQ(d.probe_us, 0);
  EXPECT_NE(d.reason.find("set in the configuration"), std::string::npos) << d.reason;
  EXPECT_FALSE(fs::exists(opts_.cache_path));
}

TEST_F(KvmProbeTest, ForcedKvmWithoutDeviceSaysSo) {
  opts_.device = (dir_ / "no-kvm").string();
  AccelDecision d = ChooseAccelerator("kvm", opts_);
  EXPECT_EQ(d.accel, "kvm");  // Honoured; the caller turns it into an error.
  EXPECT_FALSE(d.kvm_usable);
  EXPECT_NE(d.reason.find(opts_.device + " not present"), std::string::npos) << d.reason;
}

TEST_F(KvmProbeTest, ForcedKvmWithDevice) {
  if (!KvmUsable()) GTEST_SKIP() << "/dev/kvm not usable here";
  AccelDecision d = ChooseAccelerator("kvm", opts_);
  EXPECT_EQ(d.accel, "kvm");
  EXPECT_TRUE(d.kvm_usable);
  EXPECT_EQ(d.reason, "accelerator = \"kvm\" set in the configuration");
  EXPECT_EQ(d.probe_us, 0);
}

TEST_F(KvmProbeTest, AutoWithoutDeviceIsTcg) {
  opts_.device = (dir_ / "no-kvm").string();
  AccelDecision d = ChooseAccelerator("auto", opts_);
  EXPECT_EQ(d.accel, "tcg");
  EXPECT_EQ(d.reason, opts_.device + " not present, using TCG");
  EXPECT_FALSE(fs::exists(opts_.cache_path));
}

TEST_F(KvmProbeTest, NotAKvmDeviceFallsBackToTcgUncached) {
  opts_.device = "/dev/null";  // Opens fine, but KVM ioctls fail.
  AccelDecision d = ChooseAccelerator("auto", opts_);
  EXPECT_EQ(d.accel, "tcg");
  EXPECT_NE(d.reason.find("KVM_GET_API_VERSION"), std::string::npos) << d.reason;
  EXPECT_FALSE(fs::exists(opts_.cache_path));  // Quick failures are re-probed.
}

TEST_F(KvmProbeTest, HungProbeTimesOutToTcg) {
  if (!KvmUsable()) GTEST_SKIP() << "/dev/kvm not usable here";
  opts_.timeout_ms = 0;  // Child is killed before it can report.
  AccelDecision d = ChooseAccelerator("auto", opts_);
  EXPECT_EQ(d.accel, "tcg");
  EXPECT_NE(d.reason.find("did not finish within 0 ms"), std::string::npos) << d.reason;
  // Not cached: on a loaded hardware host a timeout must not pin TCG for the boot.
  EXPECT_FALSE(fs::exists(opts_.cache_path));
}

TEST_F(KvmProbeTest, DecisionIsCachedPerBootAndDevice) {
  if (!KvmUsable()) GTEST_SKIP() << "/dev/kvm not usable here";
  AccelDecision first = ChooseAccelerator("auto", opts_);
  EXPECT_FALSE(first.cached);
  ASSERT_TRUE(fs::exists(opts_.cache_path));

  AccelDecision again = ChooseAccelerator("auto", opts_);
  EXPECT_TRUE(again.cached);
  EXPECT_EQ(again.accel, first.accel);
  EXPECT_EQ(again.reason, first.reason);
  EXPECT_NEAR(again.probe_us, first.probe_us, 0.01);

  SetBootId("boot-2");  // Reboot: probe again.
  EXPECT_FALSE(ChooseAccelerator("auto", opts_).cached);
  EXPECT_TRUE(ChooseAccelerator("auto", opts_).cached);

  opts_.threshold_us *= 2;  // Different rule: the old answer does not apply.
  EXPECT_FALSE(ChooseAccelerator("auto", opts_).cached);

  std::ofstream(opts_.cache_path) << "garbage\n";  // Corrupt cache: re-probe.
  EXPECT_FALSE(ChooseAccelerator("auto", opts_).cached);
}

// The machine fact this exists for: here /dev/kvm is emulated (kvm_pvm), a KVM
// guest is far slower than TCG, and auto must say tcg. Elsewhere just report.
TEST_F(KvmProbeTest, AutoOnThisMachine) {
  if (!KvmUsable()) GTEST_SKIP() << "/dev/kvm not usable here";
  Result<double> raw = MeasureKvm("/dev/kvm", 1000);
  ASSERT_TRUE(raw.ok()) << raw.status().message();
  AccelDecision d = ChooseAccelerator("auto", opts_);
  std::printf("[ probe    ] MeasureKvm: %.1f us for %d instructions; decision %s: %s\n", *raw,
              kProbeInstructions, d.accel.c_str(), d.reason.c_str());
  if (fs::exists("/sys/module/kvm_pvm")) {
    EXPECT_EQ(d.accel, "tcg");
    EXPECT_NE(d.reason.find("emulated or nested, using TCG"), std::string::npos);
    EXPECT_GE(d.probe_us, opts_.threshold_us);
  }
}

}  // namespace
}  // namespace kata::vmm
