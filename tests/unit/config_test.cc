#include "config/config.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <toml++/toml.h>

namespace kata::config {
namespace {

namespace fs = std::filesystem;
const char kEtc[] = "/etc/kata-containers/configuration.toml";

int HostCores() {
  cpu_set_t set;
  sched_getaffinity(0, sizeof set, &set);
  return CPU_COUNT(&set);
}

Config MustParse(const std::string& text, std::vector<std::string>* warnings = nullptr,
                 std::vector<std::string>* ignored = nullptr) {
  Result<Config> r = ParseToml(text, kEtc, warnings, ignored);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : Config{};
}

TEST(ConfigTest, Defaults) {
  std::vector<std::string> warnings;
  Config c = MustParse("", &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(c.qemu.path, "/usr/bin/qemu-system-x86_64");
  EXPECT_EQ(c.qemu.kernel, "/usr/share/kata-containers/vmlinux.container");
  EXPECT_EQ(c.qemu.initrd, "/usr/share/kata-containers/kata-containers-initrd.img");
  EXPECT_EQ(c.qemu.image, "");
  EXPECT_EQ(c.qemu.machine_type, "microvm");
  EXPECT_EQ(c.qemu.kernel_params, "");
  EXPECT_EQ(c.qemu.default_vcpus, 1);
  EXPECT_EQ(c.qemu.default_maxvcpus, HostCores());  // 0 resolves to the host's cores.
  EXPECT_EQ(c.qemu.default_memory, 256);
  EXPECT_EQ(c.qemu.shared_fs, "virtio-fs");
  EXPECT_EQ(c.qemu.virtio_fs_daemon, "/usr/lib/qemu/virtiofsd");
  EXPECT_EQ(c.qemu.virtio_fs_cache, "auto");
  EXPECT_EQ(c.qemu.virtio_fs_queue_size, 1024);
  EXPECT_EQ(c.qemu.accelerator, "auto");
  EXPECT_FALSE(c.qemu.enable_debug);
  EXPECT_EQ(c.qemu.machine_accelerators, "");
  EXPECT_EQ(c.qemu.cpu_features, "pmu=off");
  EXPECT_EQ(c.qemu.enable_annotations, std::vector<std::string>{"kernel_params"});
  EXPECT_EQ(c.qemu.valid_hypervisor_paths, std::vector<std::string>{"/usr/bin/qemu-system-x86_64"});
  EXPECT_EQ(c.qemu.msize_9p, 512000);
  EXPECT_EQ(c.qemu.entropy_source, "/dev/urandom");
  EXPECT_FALSE(c.qemu.disable_vhost_net);
  EXPECT_TRUE(c.qemu.reclaim_guest_freed_memory);
  EXPECT_FALSE(c.agent.enable_debug);
  EXPECT_TRUE(c.agent.kernel_modules.empty());
  EXPECT_EQ(c.agent.dial_timeout, 45);
  EXPECT_FALSE(c.agent.debug_console_enabled);
  EXPECT_FALSE(c.runtime.enable_debug);
  EXPECT_EQ(c.runtime.internetworking_model, "tcfilter");
  EXPECT_FALSE(c.runtime.disable_new_netns);
  EXPECT_TRUE(c.runtime.sandbox_cgroup_only);
  EXPECT_EQ(c.runtime.create_container_timeout, 60);
  EXPECT_TRUE(c.runtime.experimental.empty());
  EXPECT_FALSE(c.runtime.disable_guest_seccomp);
  EXPECT_FALSE(c.factory.enable_template);
  EXPECT_EQ(c.factory.template_path, "/run/vc/vm/template");
  EXPECT_EQ(c.factory.vm_cache_number, 0);
}

TEST(ConfigTest, DefaultPaths) {
  EXPECT_EQ(DefaultPaths(), (std::vector<std::string>{
                                "/etc/kata-containers/configuration.toml",
                                "/usr/share/defaults/kata-containers/configuration.toml"}));
}

// The shipped file lists every key with its default: no drift allowed.
TEST(ConfigTest, ShippedFileMatchesBuiltInDefaults) {
  fs::path shipped = fs::path(__FILE__).parent_path() / "../../config/configuration.toml";
  std::ifstream in(shipped);
  ASSERT_TRUE(in) << shipped;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> warnings, ignored;
  Config c = MustParse(text, &warnings, &ignored);
  EXPECT_TRUE(warnings.empty());
  EXPECT_TRUE(ignored.empty());
  EXPECT_EQ(c, MustParse(""));
  // Every key of ToToml's output (= every supported key) appears in the file.
  toml::table resolved = toml::parse(ToToml({c, "x", {}, {}}));
  toml::table file = toml::parse(text);
  for (const char* table : {"hypervisor.qemu", "agent.kata", "runtime", "factory"}) {
    for (auto&& [k, v] : *resolved.at_path(table).as_table())
      EXPECT_TRUE(file.at_path(std::string(table) + "." + std::string(k.str())))
          << table << "." << k.str() << " missing from the shipped file";
  }
}

TEST(ConfigTest, EveryKeyParsedAndPrintedBack) {
  std::vector<std::string> warnings;
  Config c = MustParse(R"(
[hypervisor.qemu]
path = "/opt/qemu/bin/qemu-system-x86_64"
kernel = "/k/vmlinux"
initrd = "/k/initrd.img"
machine_type = "q35"
kernel_params = "quiet panic=1"
default_vcpus = 1
default_maxvcpus = 1
default_memory = 512
default_maxmemory = 1024
shared_fs = "virtio-9p"
virtio_fs_daemon = "/opt/virtiofsd"
valid_virtio_fs_daemon_paths = ["/opt/virtiofsd"]
virtio_fs_cache = "always"
virtio_fs_queue_size = 512
virtio_fs_extra_args = ["--thread-pool-size=1"]
accelerator = "tcg"
enable_debug = true
machine_accelerators = "nvdimm=on"
cpu_features = "pmu=off,+x2apic"
enable_annotations = ["kernel_params", "default_vcpus"]
valid_hypervisor_paths = ["/opt/qemu/bin/*"]
msize_9p = 8192
pcie_root_port = 2
entropy_source = "/dev/random"
tcg_tb_size_mib = 32
disable_vhost_net = true
reclaim_guest_freed_memory = false

[agent.kata]
enable_debug = true
kernel_modules = ["e1000e InterruptThrottleRate=3000", "i915"]
dial_timeout = 30
debug_console_enabled = true

[runtime]
enable_debug = true
internetworking_model = "none"
disable_new_netns = true
sandbox_cgroup_only = false
create_container_timeout = 120
experimental = ["newstore"]
disable_guest_seccomp = true
rootfs_writes_in_guest = true
rootfs_image_in_guest = true
rootfs_image_cache_dir = "/var/tmp/images"
rootfs_image_cache_mb = 128

[factory]
enable_template = true
template_path = "/run/tmpl"
vm_cache_number = 2
vm_cache_endpoint = "/run/cache.sock"
)", &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(c.qemu.path, "/opt/qemu/bin/qemu-system-x86_64");
  EXPECT_EQ(c.qemu.kernel, "/k/vmlinux");
  EXPECT_EQ(c.qemu.initrd, "/k/initrd.img");
  EXPECT_EQ(c.qemu.machine_type, "q35");
  EXPECT_EQ(c.qemu.kernel_params, "quiet panic=1");
  EXPECT_EQ(c.qemu.default_vcpus, 1);
  EXPECT_EQ(c.qemu.default_maxvcpus, 1);
  EXPECT_EQ(c.qemu.default_memory, 512);
  EXPECT_EQ(c.qemu.default_maxmemory, 1024);
  EXPECT_EQ(c.qemu.shared_fs, "virtio-9p");
  EXPECT_EQ(c.qemu.virtio_fs_daemon, "/opt/virtiofsd");
  EXPECT_EQ(c.qemu.valid_virtio_fs_daemon_paths, std::vector<std::string>{"/opt/virtiofsd"});
  EXPECT_EQ(c.qemu.virtio_fs_cache, "always");
  EXPECT_EQ(c.qemu.virtio_fs_queue_size, 512);
  EXPECT_EQ(c.qemu.virtio_fs_extra_args, std::vector<std::string>{"--thread-pool-size=1"});
  EXPECT_EQ(c.qemu.accelerator, "tcg");
  EXPECT_TRUE(c.qemu.enable_debug);
  EXPECT_EQ(c.qemu.machine_accelerators, "nvdimm=on");
  EXPECT_EQ(c.qemu.cpu_features, "pmu=off,+x2apic");
  EXPECT_EQ(c.qemu.enable_annotations, (std::vector<std::string>{"kernel_params", "default_vcpus"}));
  EXPECT_EQ(c.qemu.valid_hypervisor_paths, std::vector<std::string>{"/opt/qemu/bin/*"});
  EXPECT_EQ(c.qemu.msize_9p, 8192);
  EXPECT_EQ(c.qemu.pcie_root_port, 2);
  EXPECT_EQ(c.qemu.entropy_source, "/dev/random");
  EXPECT_EQ(c.qemu.tcg_tb_size_mib, 32);
  EXPECT_TRUE(c.qemu.disable_vhost_net);
  EXPECT_FALSE(c.qemu.reclaim_guest_freed_memory);
  EXPECT_TRUE(c.agent.enable_debug);
  EXPECT_EQ(c.agent.kernel_modules, (std::vector<std::string>{"e1000e InterruptThrottleRate=3000", "i915"}));
  EXPECT_EQ(c.agent.dial_timeout, 30);
  EXPECT_TRUE(c.agent.debug_console_enabled);
  EXPECT_TRUE(c.runtime.enable_debug);
  EXPECT_EQ(c.runtime.internetworking_model, "none");
  EXPECT_TRUE(c.runtime.disable_new_netns);
  EXPECT_FALSE(c.runtime.sandbox_cgroup_only);
  EXPECT_EQ(c.runtime.create_container_timeout, 120);
  EXPECT_EQ(c.runtime.experimental, std::vector<std::string>{"newstore"});
  EXPECT_TRUE(c.runtime.disable_guest_seccomp);
  EXPECT_TRUE(c.runtime.rootfs_writes_in_guest);
  EXPECT_TRUE(c.runtime.rootfs_image_in_guest);
  EXPECT_EQ(c.runtime.rootfs_image_cache_dir, "/var/tmp/images");
  EXPECT_EQ(c.runtime.rootfs_image_cache_mb, 128);
  EXPECT_TRUE(c.factory.enable_template);
  EXPECT_EQ(c.factory.template_path, "/run/tmpl");
  EXPECT_EQ(c.factory.vm_cache_number, 2);
  EXPECT_EQ(c.factory.vm_cache_endpoint, "/run/cache.sock");
  // `kata-runtime env` prints every value: every key above but
  // virtio_fs_cache_size (only 0) is off its default, so a key ToToml forgot
  // would parse back as its default.
  std::string printed = ToToml({c, "x", {}, {}});
  Result<Config> back = ParseToml(printed, "printed");
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << printed;
  EXPECT_EQ(*back, c) << printed;
}

TEST(ConfigTest, VcpuResolutionFollowsKata) {
  int host = HostCores();
  EXPECT_EQ(MustParse("[hypervisor.qemu]\ndefault_vcpus = -1").qemu.default_vcpus, host);
  EXPECT_EQ(MustParse("[hypervisor.qemu]\ndefault_vcpus = 0").qemu.default_vcpus, 1);
  EXPECT_EQ(MustParse("[hypervisor.qemu]\ndefault_vcpus = 100000").qemu.default_vcpus, host);
  EXPECT_EQ(MustParse("[hypervisor.qemu]\ndefault_maxvcpus = 100000").qemu.default_maxvcpus, host);
  if (host >= 2) {
    Result<Config> r = ParseToml("[hypervisor.qemu]\ndefault_vcpus = 2\ndefault_maxvcpus = 1", kEtc);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(), std::string(kEtc) +
                                        ": hypervisor.qemu.default_maxvcpus: must be 0 or >= "
                                        "default_vcpus (2), got 1");
  }
}

TEST(ConfigTest, MaxMemoryDefaultsToAHeadroomAndIsAtLeastTheBootSize) {
  long long host = static_cast<long long>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE) >> 20;
  EXPECT_EQ(MustParse("").qemu.default_maxmemory, std::min<long long>(kDefaultMaxMemoryMib, host));
  EXPECT_EQ(MustParse("[hypervisor.qemu]\ndefault_maxmemory = 512").qemu.default_maxmemory, 512);
  EXPECT_EQ(MustParse("[hypervisor.qemu]\ndefault_memory = 512\ndefault_maxmemory = 512").qemu.default_maxmemory, 512);
  EXPECT_EQ(MustParse("[hypervisor.qemu]\ndefault_maxmemory = 2147483647").qemu.default_maxmemory, host)
      << "more than the host has: the host's";
  Result<Config> r = ParseToml("[hypervisor.qemu]\ndefault_memory = 512\ndefault_maxmemory = 300", kEtc);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), std::string(kEtc) +
                                      ": hypervisor.qemu.default_maxmemory: must be 0 or >= default_memory (512), got 300");
}

TEST(ConfigTest, UnknownKeysWarnWithFileTableAndKey) {
  std::vector<std::string> warnings, ignored;
  MustParse(R"(
toplevel = 1
[hypervisor.qemu]
foo = "bar"
[agent.kata]
dial_timout = 10
[agent.other]
x = 1
[runtime]
enable_debugg = true
[mystery]
a = 1
)",
            &warnings, &ignored);
  EXPECT_EQ(warnings, (std::vector<std::string>{
                          std::string(kEtc) + ": unknown key agent.kata.dial_timout ignored",
                          std::string(kEtc) + ": [agent.other] ignored: only [agent.kata] is supported",
                          std::string(kEtc) + ": unknown key hypervisor.qemu.foo ignored",
                          std::string(kEtc) + ": unknown table [mystery] ignored",
                          std::string(kEtc) + ": unknown key runtime.enable_debugg ignored",
                          std::string(kEtc) + ": unknown key toplevel ignored",
                      }));
  EXPECT_TRUE(ignored.empty());
}

// Kata's virtio-fs keys, as its own files set them (the daemon named in the
// list of valid ones; "never" is virtiofsd's "none").
TEST(ConfigTest, VirtioFsKeys) {
  Config c = MustParse(R"(
[hypervisor.qemu]
shared_fs = "virtio-fs"
virtio_fs_daemon = "/usr/libexec/virtiofsd"
valid_virtio_fs_daemon_paths = ["/usr/libexec/virtiofsd"]
virtio_fs_cache = "never"
virtio_fs_cache_size = 0
virtio_fs_queue_size = 512
virtio_fs_extra_args = ["--thread-pool-size=1"]
)");
  EXPECT_EQ(c.qemu.virtio_fs_daemon, "/usr/libexec/virtiofsd");
  EXPECT_EQ(c.qemu.virtio_fs_cache, "never");
  EXPECT_EQ(c.qemu.virtio_fs_queue_size, 512);
  EXPECT_EQ(c.qemu.virtio_fs_extra_args, std::vector<std::string>{"--thread-pool-size=1"});
  EXPECT_EQ(MustParse("[hypervisor.qemu]\nvirtio_fs_cache = \"none\"\n").qemu.virtio_fs_cache, "never");
}

// A stock Kata file must load: its keys are known, just not implemented.
TEST(ConfigTest, KataOnlyKeysAreIgnoredWithoutWarning) {
  std::vector<std::string> warnings, ignored;
  MustParse(R"(
[hypervisor.qemu]
enable_hugepages = true
file_mem_backend = "/dev/shm"
block_device_driver = "virtio-scsi"
[hypervisor.qemu.factory]
enable_template = false
[agent.kata]
enable_tracing = false
[runtime]
static_sandbox_resource_mgmt = true
[netmon]
enable_netmon = false
)",
            &warnings, &ignored);
  EXPECT_TRUE(warnings.empty()) << warnings[0];
  EXPECT_EQ(ignored, (std::vector<std::string>{
                         "agent.kata.enable_tracing",
                         "hypervisor.qemu.block_device_driver", "hypervisor.qemu.enable_hugepages",
                         "hypervisor.qemu.factory", "hypervisor.qemu.file_mem_backend", "netmon",
                         "runtime.static_sandbox_resource_mgmt"}));
}

TEST(ConfigTest, OtherHypervisors) {
  // Only another hypervisor: refuse rather than silently run QEMU.
  Result<Config> r = ParseToml("[hypervisor.clh]\npath = \"/usr/bin/cloud-hypervisor\"\n", kEtc);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), std::string(kEtc) +
                                      ": hypervisor.clh: only the QEMU hypervisor ([hypervisor.qemu]) "
                                      "is supported by this runtime");
  // Alongside [hypervisor.qemu]: warn.
  std::vector<std::string> warnings;
  MustParse("[hypervisor.qemu]\n[hypervisor.firecracker]\npath = \"/x\"\n", &warnings);
  EXPECT_EQ(warnings, std::vector<std::string>{std::string(kEtc) +
                                               ": [hypervisor.firecracker] ignored: only "
                                               "[hypervisor.qemu] is supported"});
}

TEST(ConfigTest, ExactMessageForBadMemory) {
  Result<Config> r = ParseToml("[hypervisor.qemu]\ndefault_memory = -5\n", kEtc);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "/etc/kata-containers/configuration.toml: hypervisor.qemu.default_memory: must be a "
            "positive integer, got -5");
}

struct BadCase {
  const char* toml;
  const char* key;     // Expected right after "<file>: ".
  const char* reason;  // Expected substring of the rest.
};

TEST(ConfigTest, BadValuesNameFileKeyAndReason) {
  const BadCase cases[] = {
      {"[hypervisor.qemu]\ndefault_memory = \"256\"", "hypervisor.qemu.default_memory", "got \"256\""},
      {"[hypervisor.qemu]\ndefault_memory = 256.5", "hypervisor.qemu.default_memory", "got float 256.5"},
      {"[hypervisor.qemu]\ndefault_memory = 0", "hypervisor.qemu.default_memory", "positive integer"},
      {"[hypervisor.qemu]\ndefault_vcpus = 1.5", "hypervisor.qemu.default_vcpus", "must be an integer"},
      {"[hypervisor.qemu]\ndefault_maxvcpus = -1", "hypervisor.qemu.default_maxvcpus", "non-negative"},
      {"[hypervisor.qemu]\npath = \"qemu\"", "hypervisor.qemu.path", "must be an absolute path, got \"qemu\""},
      {"[hypervisor.qemu]\nkernel = \"\"", "hypervisor.qemu.kernel", "absolute path"},
      {"[hypervisor.qemu]\ninitrd = \"initrd.img\"", "hypervisor.qemu.initrd", "absolute path"},
      {"[hypervisor.qemu]\ninitrd = \"\"", "hypervisor.qemu.initrd", "absolute path"},
      {"[hypervisor.qemu]\nentropy_source = \"urandom\"", "hypervisor.qemu.entropy_source", "absolute"},
      {"[hypervisor.qemu]\ntcg_tb_size_mib = 0", "hypervisor.qemu.tcg_tb_size_mib", "from 1 to 4096"},
      {"[hypervisor.qemu]\nvalid_hypervisor_paths = [\"qemu*\"]", "hypervisor.qemu.valid_hypervisor_paths[0]", "absolute"},
      {"[hypervisor.qemu]\nenable_annotations = \"kernel_params\"", "hypervisor.qemu.enable_annotations", "array of strings"},
      {"[hypervisor.qemu]\nshared_fs = \"virtio-fs-nydus\"", "hypervisor.qemu.shared_fs", "must be \"virtio-fs\" or \"virtio-9p\""},
      {"[hypervisor.qemu]\nshared_fs = \"none\"", "hypervisor.qemu.shared_fs", "must be \"virtio-fs\" or \"virtio-9p\""},
      {"[hypervisor.qemu]\nvirtio_fs_cache = \"sometimes\"", "hypervisor.qemu.virtio_fs_cache", "must be one of"},
      {"[hypervisor.qemu]\nvirtio_fs_cache_size = 1024", "hypervisor.qemu.virtio_fs_cache_size", "no DAX window"},
      {"[hypervisor.qemu]\nvirtio_fs_queue_size = 1000", "hypervisor.qemu.virtio_fs_queue_size", "power of two"},
      {"[hypervisor.qemu]\nvirtio_fs_daemon = \"/tmp/evil\"", "hypervisor.qemu.virtio_fs_daemon", "not in valid_virtio_fs_daemon_paths"},
      {"[factory]\nenable_template = true", "factory.enable_template", "shared_fs = \"virtio-9p\""},
      {"[factory]\nvm_cache_number = 1", "factory.vm_cache_number", "shared_fs = \"virtio-9p\""},
      {"[hypervisor.qemu]\naccelerator = \"hvf\"", "hypervisor.qemu.accelerator", "must be one of \"auto\", \"kvm\", \"tcg\", got \"hvf\""},
      {"[hypervisor.qemu]\nenable_debug = \"yes\"", "hypervisor.qemu.enable_debug", "must be true or false"},
      {"[hypervisor.qemu]\nmsize_9p = 100", "hypervisor.qemu.msize_9p", ">= 4096"},
      {"[hypervisor.qemu]\nmachine_type = \"pc,accel=kvm\"", "hypervisor.qemu.machine_type", "machine type"},
      {"[hypervisor.qemu]\nkernel_params = 3", "hypervisor.qemu.kernel_params", "must be a string, got 3"},
      {"[hypervisor.qemu]\nimage = \"/i.img\"\ninitrd = \"/i.initrd\"", "hypervisor.qemu.image", "not both"},
      {"[hypervisor.qemu]\nimage = \"/i.img\"", "hypervisor.qemu.image", "not supported"},
      {"[agent.kata]\nkernel_modules = [\"ok\", 1]", "agent.kata.kernel_modules[1]", "must be a string"},
      {"[agent.kata]\nkernel_modules = [\"\"]", "agent.kata.kernel_modules[0]", "must not be empty"},
      {"[agent.kata]\ndial_timeout = 0", "agent.kata.dial_timeout", "positive integer, got 0"},
      {"[agent.kata]\ndebug_console_enabled = 1", "agent.kata.debug_console_enabled", "true or false, got 1"},
      {"[runtime]\ninternetworking_model = \"macvtap\"", "runtime.internetworking_model", "one of \"tcfilter\", \"none\""},
      {"[runtime]\ncreate_container_timeout = -1", "runtime.create_container_timeout", "positive"},
      {"[runtime]\ndisable_new_netns = true", "runtime.disable_new_netns", "internetworking_model = \"none\""},
      {"[runtime]\nexperimental = [[\"x\"]]", "runtime.experimental[0]", "got an array"},
      {"[runtime]\nrootfs_image_in_guest = true", "runtime.rootfs_image_in_guest", "requires rootfs_writes_in_guest = true"},
      {"[runtime]\nrootfs_image_cache_mb = 10", "runtime.rootfs_image_cache_mb", "from 64 to"},
      {"[runtime]\nrootfs_image_cache_dir = \"cache\"", "runtime.rootfs_image_cache_dir", "absolute path"},
      {"[factory]\ntemplate_path = \"tmpl\"", "factory.template_path", "absolute"},
      {"[factory]\nenable_template = \"no\"", "factory.enable_template", "true or false"},
      {"[factory]\nvm_cache_number = 65", "factory.vm_cache_number", "0 to 64"},
      {"runtime = 5", "runtime", "must be a table, got 5"},
      {"hypervisor = \"qemu\"", "hypervisor", "must be a table"},
      {"[hypervisor]\nqemu = 1", "hypervisor.qemu", "must be a table"},
  };
  for (const auto& c : cases) {
    Result<Config> r = ParseToml(c.toml, kEtc);
    ASSERT_FALSE(r.ok()) << c.toml;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    std::string prefix = std::string(kEtc) + ": " + c.key + ": ";
    EXPECT_EQ(r.status().message().rfind(prefix, 0), 0u) << r.status().message();
    EXPECT_NE(r.status().message().find(c.reason), std::string::npos) << r.status().message();
  }
}

TEST(ConfigTest, SyntaxErrorNamesFileLineColumn) {
  Result<Config> r = ParseToml("[runtime]\nenable_debug = tru\n", "/x/c.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(std::regex_search(r.status().message(), std::regex("^/x/c\\.toml:2:\\d+: .+")))
      << r.status().message();
}

// toml++ 3.3.0 reaches __builtin_unreachable when it asks whether some
// non-ASCII characters are whitespace (tests/fuzz/fuzz_config found it):
// those places are refused first, with the position; non-ASCII text in
// strings and comments is fine.
TEST(ConfigTest, NonAsciiOnlyInStringsAndComments) {
  auto refused = [](const std::string& text, const std::string& where) {
    Result<Config> r = ParseToml(text, "/x/c.toml");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind("/x/c.toml:" + where + ": ", 0), 0u) << r.status().message();
    EXPECT_NE(r.status().message().find("(non-ASCII characters shown as `)"), std::string::npos);
  };
  refused("a.bu0\xd0\x9a = 1\n", "1:6");  // 'К' right after a bare key
  refused("[runtime]\n# caf\xc3\xa9\nenable_debug = true \xc2\xa7\n", "3:21");
  refused("a.b.c= 0xmachine\"0\xd0\x9a\xc6\xab\n", "1:10");  // toml++ scans the bad number on past the quote
  // A line-ending backslash in a multi-line string, then U+00A7 (toml++ issue 190).
  Result<Config> r = ParseToml("[hypervisor.qemu]\nkernel_params = \"\"\"a \\\n  \xc2\xa7\"\"\"\n", "/x/c.toml");
  EXPECT_EQ(r.status().message().rfind("/x/c.toml:3:3: non-ASCII character after a backslash", 0), 0u)
      << r.status().message();

  Config c = MustParse("# Mémoire\n[hypervisor.qemu] # é\n"
                       "kernel_params = \"café \\\\ \\\" ü\"\n"
                       "cpu_features = 'ß'\n"
                       "machine_accelerators = \"\"\"a\\\\é\"\"é\"\"\"\n"
                       "entropy_source = '''/dev/ñ'''\n");
  EXPECT_EQ(c.qemu.kernel_params, "café \\ \" ü");
  EXPECT_EQ(c.qemu.cpu_features, "ß");
  EXPECT_EQ(c.qemu.machine_accelerators, "a\\é\"\"é");
  EXPECT_EQ(c.qemu.entropy_source, "/dev/ñ");
}

// Temp files for the search order; KATA_CONF_FILE restored afterwards.
class LoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("config_test." + std::to_string(getpid()));
    fs::create_directories(dir_);
    if (const char* e = std::getenv("KATA_CONF_FILE")) saved_env_ = e;
    unsetenv("KATA_CONF_FILE");
    etc_ = Write("etc.toml", 1001);
    share_ = Write("share.toml", 1002);
  }
  void TearDown() override {
    if (saved_env_) setenv("KATA_CONF_FILE", saved_env_->c_str(), 1);
    else unsetenv("KATA_CONF_FILE");
    fs::remove_all(dir_);
  }
  // A file whose default_memory tells which one was loaded.
  std::string Write(const std::string& name, int memory, const std::string& extra = "") {
    std::string p = (dir_ / name).string();
    std::ofstream(p) << "[hypervisor.qemu]\ndefault_memory = " << memory << "\n" << extra;
    return p;
  }
  int LoadedMemory(const std::string& explicit_path, const std::vector<std::string>& defaults) {
    Result<LoadedConfig> r = LoadWithDefaults(explicit_path, defaults);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r->config.qemu.default_memory : -1;
  }

  fs::path dir_;
  std::optional<std::string> saved_env_;
  std::string etc_, share_;
};

TEST_F(LoadTest, SearchOrder) {
  std::string cli = Write("cli.toml", 1003), env = Write("env.toml", 1004);
  std::vector<std::string> defaults = {etc_, share_};
  EXPECT_EQ(LoadedMemory("", defaults), 1001);  // /etc wins over /usr/share.
  EXPECT_EQ(LoadedMemory("", {(dir_ / "absent").string(), share_}), 1002);
  setenv("KATA_CONF_FILE", env.c_str(), 1);
  EXPECT_EQ(LoadedMemory("", defaults), 1004);  // Env wins over the defaults.
  EXPECT_EQ(LoadedMemory(cli, defaults), 1003);  // --config wins over env.
  setenv("KATA_CONF_FILE", "", 1);  // Empty means unset.
  EXPECT_EQ(LoadedMemory("", defaults), 1001);

  Result<LoadedConfig> r = LoadWithDefaults(cli, defaults);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->path, cli);
}

TEST_F(LoadTest, NamedFileMustExist) {
  std::string missing = (dir_ / "missing.toml").string();
  Result<LoadedConfig> r = LoadWithDefaults(missing, {etc_});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "configuration file " + missing + " (--config): No such file or directory");
  setenv("KATA_CONF_FILE", missing.c_str(), 1);
  r = LoadWithDefaults("", {etc_});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "configuration file " + missing + " (KATA_CONF_FILE): No such file or directory");
}

TEST_F(LoadTest, NoFileListsPathsTried) {
  std::string a = (dir_ / "a.toml").string(), b = (dir_ / "b.toml").string();
  Result<LoadedConfig> r = LoadWithDefaults("", {a, b});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "no configuration file found (tried " + a + ", " + b +
                                      "); install one or set KATA_CONF_FILE or --config");
}

TEST_F(LoadTest, ErrorsAndWarningsNameTheLoadedFile) {
  std::string bad = Write("bad.toml", -5);
  Result<LoadedConfig> r = LoadWithDefaults(bad, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            bad + ": hypervisor.qemu.default_memory: must be a positive integer, got -5");

  std::string odd = Write("odd.toml", 300, "foo = 1\nenable_hugepages = true\n");
  r = LoadWithDefaults(odd, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->warnings, std::vector<std::string>{odd + ": unknown key hypervisor.qemu.foo ignored"});
  EXPECT_EQ(r->ignored, std::vector<std::string>{"hypervisor.qemu.enable_hugepages"});

  std::string broken = (dir_ / "broken.toml").string();
  std::ofstream(broken) << "[runtime\n";
  r = LoadWithDefaults(broken, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind(broken + ":1:", 0), 0u) << r.status().message();
}

TEST_F(LoadTest, ToTomlRoundTrips) {
  std::string odd = Write("odd.toml", 300,
                          "kernel_params = \"a=\\\"b\\\" c\\\\d\"\nfoo = 1\n[agent.kata]\n"
                          "kernel_modules = [\"m p=1\"]\n");
  Result<LoadedConfig> r = LoadWithDefaults(odd, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::string out = ToToml(*r);
  toml::table t = toml::parse(out);  // Valid TOML.
  EXPECT_EQ(t.at_path("config.path").value<std::string>(), odd);
  EXPECT_EQ(t.at_path("config.warnings[0]").value<std::string>(),
            odd + ": unknown key hypervisor.qemu.foo ignored");
  EXPECT_EQ(t.at_path("hypervisor.qemu.kernel_params").value<std::string>(), "a=\"b\" c\\d");
  // Every resolved value is there: parsing it back gives the same config
  // (the [config] table is the only unknown).
  std::vector<std::string> warnings;
  Result<Config> again = ParseToml(out, "env", &warnings);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(*again, r->config);
  EXPECT_EQ(warnings, std::vector<std::string>{"env: unknown table [config] ignored"});
}

}  // namespace
}  // namespace kata::config
