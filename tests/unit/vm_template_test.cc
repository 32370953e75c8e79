// VM templating, the parts that need no VM: fingerprint, template
// directory checks, QEMU arguments and migration URIs.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "sandbox/template_fingerprint.h"
#include "sandbox/network.h"
#include "sandbox/vm_template.h"
#include "vmm/qemu/command_line.h"
#include "vmm/qemu/migration.h"

namespace kata {
namespace {

vmm::VmSpec Spec() {
  vmm::VmSpec s;
  s.id = "sb1";
  s.run_dir = "/run/vc/vm/sb1";
  s.shared_dir = "/run/kata-containers/shared/sandboxes/sb1/shared";
  s.binary = "/usr/bin/qemu-system-x86_64";
  s.kernel = "/k/vmlinux";
  s.initrd = "/k/initrd";
  s.kernel_params = "console=ttyS0 quiet";
  s.machine_type = "microvm";
  s.accel = "tcg";
  s.memory_mib = 256;
  s.nics = {vmm::NetDevice{"net0", "tap0_kata", sandbox::kGuestBootMac}};
  return s;
}

std::string FakeId(const std::string& path) { return "id-of " + path; }

bool Has(const std::vector<std::string>& argv, const std::string& a) {
  return std::find(argv.begin(), argv.end(), a) != argv.end();
}

TEST(TemplateFingerprint, IgnoresPerSandboxFields) {
  vmm::VmSpec a = Spec(), b = Spec();
  b.id = "other";
  b.run_dir = "/elsewhere";
  b.shared_dir = "/elsewhere/shared";
  b.memory_file = "/t/memory";
  b.restore_state = "/t/state";
  EXPECT_EQ(sandbox::TemplateFingerprint(a, FakeId), sandbox::TemplateFingerprint(b, FakeId));
}

std::string Reason(const std::string& stored, const std::string& current) {
  return sandbox::CompareFingerprint(stored, current, nullptr).reason;
}

TEST(TemplateFingerprint, NamesWhatChanged) {
  vmm::VmSpec a = Spec(), b = Spec();
  b.memory_mib = 512;
  EXPECT_EQ(Reason(sandbox::TemplateFingerprint(a, FakeId), sandbox::TemplateFingerprint(b, FakeId)),
            "memory_mib changed (template: 256, now: 512)");
  b = Spec();
  b.kernel_params += " debug";
  EXPECT_NE(Reason(sandbox::TemplateFingerprint(a, FakeId), sandbox::TemplateFingerprint(b, FakeId)).find("kernel_params changed"),
            std::string::npos);
  auto same = sandbox::CompareFingerprint(sandbox::TemplateFingerprint(a, FakeId), sandbox::TemplateFingerprint(a, FakeId));
  EXPECT_TRUE(same.match);
  EXPECT_EQ(same.refreshed, "");
}

TEST(TemplateFingerprint, TouchedButSameContentMatchesAndRefreshes) {
  vmm::VmSpec a = Spec();
  auto ids = [](const char* initrd_id) {
    return [initrd_id](const std::string& p) { return p == "/k/initrd" ? std::string(initrd_id) : "x"; };
  };
  auto hash = [](const char* initrd_hash) {
    return [initrd_hash](const std::string& p) { return p == "/k/initrd" ? std::string(initrd_hash) : "hx"; };
  };
  std::string stored = sandbox::TemplateFingerprint(a, ids("v1"), hash("h1"));
  EXPECT_NE(stored.find("initrd_sha256=h1\n"), std::string::npos) << stored;
  std::string current = sandbox::TemplateFingerprint(a, ids("v2"));
  EXPECT_EQ(current.find("_sha256"), std::string::npos) << "no hashing at every check";

  auto touched = sandbox::CompareFingerprint(stored, current, hash("h1"));
  EXPECT_TRUE(touched.match) << touched.reason;
  EXPECT_NE(touched.refreshed.find("initrd_file=v2\n"), std::string::npos) << touched.refreshed;
  EXPECT_NE(touched.refreshed.find("initrd_sha256=h1\n"), std::string::npos) << touched.refreshed;
  EXPECT_TRUE(sandbox::CompareFingerprint(touched.refreshed, current, nullptr).match);

  auto changed = sandbox::CompareFingerprint(stored, current, hash("h2"));
  EXPECT_FALSE(changed.match);
  EXPECT_EQ(changed.reason, "initrd /k/initrd changed since the template was made");
}

TEST(TemplateFingerprint, NewlinesCannotForgeKeys) {
  vmm::VmSpec a = Spec();
  a.kernel_params = "quiet\nmemory_mib=1";
  std::string fp = sandbox::TemplateFingerprint(a, FakeId);
  EXPECT_EQ(fp.find("\nmemory_mib=1\n"), std::string::npos) << fp;
}

TEST(TemplateFingerprint, RealFileIdentity) {
  char dir[] = "/tmp/fp-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string f = std::string(dir) + "/k";
  EXPECT_EQ(sandbox::FileIdentity(f), "missing");
  ASSERT_TRUE(fs::WriteFileAtomic(f, "one").ok());
  std::string one = sandbox::FileIdentity(f);
  ASSERT_TRUE(fs::WriteFileAtomic(f, "three").ok());
  EXPECT_NE(one, sandbox::FileIdentity(f));
  ASSERT_TRUE(fs::RemoveAll(dir).ok());
}

TEST(VmTemplate, CheckTemplatePath) {
  EXPECT_TRUE(sandbox::CheckTemplatePath("/run/vc/vm/template").ok());
  EXPECT_FALSE(sandbox::CheckTemplatePath("relative").ok());
  EXPECT_FALSE(sandbox::CheckTemplatePath("/").ok());
  EXPECT_FALSE(sandbox::CheckTemplatePath("/a,b").ok());
}

TEST(VmTemplate, InspectUseAndDestroy) {
  char dir[] = "/tmp/tpl-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string t = std::string(dir) + "/template";
  vmm::VmSpec spec = Spec();
  spec.kernel = std::string(dir) + "/vmlinux";
  spec.initrd = std::string(dir) + "/initrd";
  ASSERT_TRUE(fs::WriteFileAtomic(spec.kernel, "k").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(spec.initrd, "i").ok());

  sandbox::TemplateStatus s = sandbox::InspectVmTemplate(spec, t);
  EXPECT_FALSE(s.exists);
  EXPECT_NE(s.reason.find("no template"), std::string::npos) << s.reason;
  vmm::VmSpec use = spec;
  EXPECT_FALSE(sandbox::UseVmTemplate(t, &use).empty());
  EXPECT_TRUE(use.restore_state.empty());

  // A complete template, as CreateVmTemplate leaves it.
  sandbox::TemplateFiles f{t};
  ASSERT_TRUE(fs::MkdirAll(t, 0700).ok());
  ASSERT_TRUE(fs::WriteFileAtomic(f.memory(), "").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(f.state(), "").ok());
  ASSERT_TRUE(
      fs::WriteFileAtomic(f.fingerprint(), sandbox::TemplateFingerprint(spec, sandbox::FileIdentity, sandbox::FileSha256)).ok());
  s = sandbox::InspectVmTemplate(spec, t);
  EXPECT_TRUE(s.valid) << s.reason;
  EXPECT_EQ(sandbox::UseVmTemplate(t, &use), "");
  EXPECT_EQ(use.memory_file, f.memory());
  EXPECT_FALSE(use.memory_file_shared);
  EXPECT_EQ(use.restore_state, f.state());

  // Every sandbox VM has the template's one NIC with the boot MAC; any
  // other device set cannot be restored from it.
  for (auto nics : {std::vector<vmm::NetDevice>{}, std::vector<vmm::NetDevice>{{"net0", "tap0_kata", "02:00:00:00:00:02"}}}) {
    vmm::VmSpec other = spec;
    other.nics = nics;
    EXPECT_NE(sandbox::UseVmTemplate(t, &other).find("network devices differ"), std::string::npos);
    EXPECT_TRUE(other.restore_state.empty());
  }

  // Touched, same content: still valid.
  struct timespec later[2] = {{0, UTIME_OMIT}, {2000000000, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, spec.initrd.c_str(), later, 0), 0);
  s = sandbox::InspectVmTemplate(spec, t);
  EXPECT_TRUE(s.valid) << s.reason;

  // The initrd is rebuilt: the template is stale and not used.
  ASSERT_TRUE(fs::WriteFileAtomic(spec.initrd, "new initrd").ok());
  s = sandbox::InspectVmTemplate(spec, t);
  EXPECT_TRUE(s.exists);
  EXPECT_FALSE(s.valid);
  EXPECT_NE(s.reason.find("initrd " + spec.initrd + " changed"), std::string::npos) << s.reason;
  use = spec;
  EXPECT_NE(sandbox::UseVmTemplate(t, &use), "");
  EXPECT_TRUE(use.memory_file.empty());

  // What a killed `factory init` leaves (pid 999999999 does not exist).
  ASSERT_TRUE(fs::MkdirAll(t + ".new.999999999/run", 0700).ok());
  EXPECT_TRUE(sandbox::DestroyVmTemplate(t).ok());
  EXPECT_FALSE(fs::Exists(t));
  EXPECT_FALSE(fs::Exists(t + ".new.999999999"));
  EXPECT_TRUE(sandbox::DestroyVmTemplate(t).ok()) << "idempotent";
  ASSERT_TRUE(fs::RemoveAll(dir).ok());
}

TEST(QemuTemplateArgs, NoneWithoutMemoryFile) {
  auto argv = vmm::qemu::BuildCommandLine(Spec());
  EXPECT_FALSE(Has(argv, "-incoming"));
  EXPECT_FALSE(Has(argv, "memory-backend-file,id=ram,size=256M,mem-path=/t/memory,share=off"));
}

// Under TCG guest RAM is a memfd (4 KiB pages, no transparent huge pages);
// KVM keeps QEMU's anonymous RAM.
TEST(QemuMemoryArgs, MemfdUnderTcgOnly) {
  vmm::VmSpec s = Spec();
  auto argv = vmm::qemu::BuildCommandLine(s);
  EXPECT_TRUE(Has(argv, "microvm,memory-backend=ram"));
  EXPECT_TRUE(Has(argv, "memory-backend-memfd,id=ram,size=256M"));
  s.accel = "kvm";
  argv = vmm::qemu::BuildCommandLine(s);
  EXPECT_TRUE(Has(argv, "microvm"));
  EXPECT_FALSE(Has(argv, "memory-backend-memfd,id=ram,size=256M"));
}

TEST(QemuTemplateArgs, TemplateIsSharedFileRam) {
  vmm::VmSpec s = Spec();
  s.memory_file = "/t/memory";
  s.memory_file_shared = true;
  auto argv = vmm::qemu::BuildCommandLine(s);
  EXPECT_TRUE(Has(argv, "microvm,memory-backend=ram"));
  EXPECT_TRUE(Has(argv, "memory-backend-file,id=ram,size=256M,mem-path=/t/memory,share=on"));
  EXPECT_FALSE(Has(argv, "memory-backend-memfd,id=ram,size=256M"));
  EXPECT_FALSE(Has(argv, "-incoming"));
}

TEST(QemuTemplateArgs, CloneIsPrivateAndWaitsForState) {
  vmm::VmSpec s = Spec();
  s.memory_file = "/t/memory";
  s.restore_state = "/t/state";
  auto argv = vmm::qemu::BuildCommandLine(s);
  EXPECT_TRUE(Has(argv, "memory-backend-file,id=ram,size=256M,mem-path=/t/memory,share=off"));
  auto it = std::find(argv.begin(), argv.end(), "-incoming");
  ASSERT_NE(it, argv.end());
  EXPECT_EQ(*(it + 1), "defer");
}

TEST(QemuAccel, TcgCacheSizeFromTheSpecKvmHasNone) {
  vmm::VmSpec s = Spec();
  s.tcg_tb_size_mib = 48;
  EXPECT_TRUE(Has(vmm::qemu::BuildCommandLine(s), "tcg,tb-size=48"));
  s.accel = "kvm";
  auto argv = vmm::qemu::BuildCommandLine(s);
  auto it = std::find(argv.begin(), argv.end(), "-accel");
  ASSERT_NE(it, argv.end());
  EXPECT_EQ(*(it + 1), "kvm");
}

// Free page reporting: a balloon on the machine's transport, never on a
// templated VM (QEMU 7.2 would punch holes in the template's memory file).
TEST(QemuBalloonArgs, OnlyWhenAskedFor) {
  vmm::VmSpec s = Spec();
  EXPECT_FALSE(Has(vmm::qemu::BuildCommandLine(s), "virtio-balloon-device,free-page-reporting=on"));
  s.free_page_reporting = true;
  EXPECT_TRUE(Has(vmm::qemu::BuildCommandLine(s), "virtio-balloon-device,free-page-reporting=on"));
  s.machine_type = "q35";
  EXPECT_TRUE(Has(vmm::qemu::BuildCommandLine(s), "virtio-balloon-pci,free-page-reporting=on"));
}

TEST(QemuBalloonArgs, NeverOnTemplateOrClone) {
  vmm::VmSpec s = Spec();
  s.free_page_reporting = true;
  s.memory_file = "/t/memory";
  s.memory_file_shared = true;
  EXPECT_FALSE(Has(vmm::qemu::BuildCommandLine(s), "virtio-balloon-device,free-page-reporting=on"));
  s.memory_file_shared = false;
  s.restore_state = "/t/state";
  EXPECT_FALSE(Has(vmm::qemu::BuildCommandLine(s), "virtio-balloon-device,free-page-reporting=on"));
}

// A VM that may grow has its maximum as RAM from boot, its kernel told to
// use the boot size; a templated VM keeps its size.
TEST(QemuMemoryArgs, AGrowableVmHasItsMaximumAndTheKernelTheBootSize) {
  vmm::VmSpec s = Spec();
  s.max_memory_mib = 1024;
  EXPECT_TRUE(vmm::qemu::CanGrowMemory(s));
  auto argv = vmm::qemu::BuildCommandLine(s);
  auto it = std::find(argv.begin(), argv.end(), "-m");
  ASSERT_NE(it, argv.end());
  EXPECT_EQ(*(it + 1), "1024");
  EXPECT_TRUE(Has(argv, "memory-backend-memfd,id=ram,size=1024M"));
  it = std::find(argv.begin(), argv.end(), "-append");
  ASSERT_NE(it, argv.end());
  EXPECT_NE((it + 1)->find(" mem=256M"), std::string::npos) << *(it + 1);
  s.max_memory_mib = s.memory_mib;
  EXPECT_FALSE(vmm::qemu::CanGrowMemory(s));
  s.max_memory_mib = 1024;
  s.memory_file = "/t/memory";
  EXPECT_FALSE(vmm::qemu::CanGrowMemory(s));
  argv = vmm::qemu::BuildCommandLine(s);
  EXPECT_TRUE(Has(argv, "memory-backend-file,id=ram,size=256M,mem-path=/t/memory,share=off"));
  it = std::find(argv.begin(), argv.end(), "-append");
  EXPECT_EQ((it + 1)->find("mem="), std::string::npos);
}

// Whole 128 MiB blocks from the boot size (rounded up to a block) to the
// asked size, never past the VM's RAM; on microvm RAM above 3 GiB sits at 4 GiB.
TEST(QemuMemoryArgs, BlockAddressesFollowTheMachinesRamLayout) {
  vmm::VmSpec s = Spec();
  s.memory_mib = 300;
  s.max_memory_mib = 1000;
  using V = std::vector<uint64_t>;
  EXPECT_EQ(vmm::qemu::MemoryBlockAddresses(s, 300, 640), (V{384ull << 20, 512ull << 20}));
  EXPECT_EQ(vmm::qemu::MemoryBlockAddresses(s, 300, 4096), (V{384ull << 20, 512ull << 20, 640ull << 20, 768ull << 20}))
      << "896-1024 is past the RAM";
  EXPECT_EQ(vmm::qemu::MemoryBlockAddresses(s, 640, 768), (V{640ull << 20}));
  s.memory_mib = 2944;
  s.max_memory_mib = 3328;
  EXPECT_EQ(vmm::qemu::MemoryBlockAddresses(s, 2944, 3328), (V{2944ull << 20, 4096ull << 20, (4096ull + 128) << 20}));
  s.machine_type = "q35";
  s.memory_mib = 1792;
  EXPECT_EQ(vmm::qemu::MemoryBlockAddresses(s, 1792, 3328), (V{1792ull << 20, 1920ull << 20}))
      << "pc/q35: nothing above 2 GiB";
  s.memory_file = "/t/memory";
  EXPECT_TRUE(vmm::qemu::MemoryBlockAddresses(s, 1792, 3328).empty());
}

TEST(QemuMigration, StreamGoesThroughAPassedFd) { EXPECT_EQ(vmm::qemu::MigrationUri(), "fd:vm-state"); }

}  // namespace
}  // namespace kata
