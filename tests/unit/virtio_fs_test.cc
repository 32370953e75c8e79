// virtio-fs on the host side without a VM: QEMU's arguments for the share,
// virtiofsd's command line, and a real virtiofsd started in a share
// namespace (confined, listening on the socket QEMU would connect to).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "common/fs.h"
#include "common/fs_at.h"
#include "sandbox/sandbox_config.h"
#include "vmm/qemu/command_line.h"
#include "vmm/share_namespace.h"
#include "vmm/virtiofsd.h"

namespace kata {
namespace {

bool Has(const std::vector<std::string>& argv, const std::string& a) {
  return std::find(argv.begin(), argv.end(), a) != argv.end();
}

vmm::VmSpec Spec() {
  vmm::VmSpec s;
  s.id = "sb1";
  s.run_dir = "/run/vc/vm/sb1";
  s.shared_dir = "/run/kata-containers/shared/sandboxes/sb1/shared";
  s.binary = "/usr/bin/qemu-system-x86_64";
  s.machine_type = "microvm";
  s.accel = "kvm";
  s.memory_mib = 256;
  s.virtio_fs = {"/usr/lib/qemu/virtiofsd", "auto", 1024, {}};
  return s;
}

// The share is a vhost-user-fs device on virtiofsd's socket, and the RAM a
// shared memfd (virtiofsd maps it) even under KVM; no 9p server in QEMU.
TEST(VirtioFsArgs, VhostUserDeviceAndSharedMemfdRam) {
  auto argv = vmm::qemu::BuildCommandLine(Spec());
  EXPECT_TRUE(Has(argv, "socket,id=virtiofs,path=/run/vc/vm/sb1/virtiofsd.sock"));
  EXPECT_TRUE(Has(argv, "vhost-user-fs-device,chardev=virtiofs,tag=kataShared,queue-size=1024"));
  EXPECT_TRUE(Has(argv, "socket,id=virtiofs-p,path=/run/vc/vm/sb1/virtiofsd-p.sock"));
  EXPECT_TRUE(Has(argv, "vhost-user-fs-device,chardev=virtiofs-p,tag=kataPropagated,queue-size=1024"));
  EXPECT_TRUE(Has(argv, "memory-backend-memfd,id=ram,size=256M,share=on"));
  EXPECT_TRUE(Has(argv, "microvm,memory-backend=ram"));
  EXPECT_FALSE(Has(argv, "-fsdev"));
  vmm::VmSpec q35 = Spec();
  q35.machine_type = "q35";
  EXPECT_TRUE(Has(vmm::qemu::BuildCommandLine(q35), "vhost-user-fs-pci,chardev=virtiofs,tag=kataShared,queue-size=1024"));
}

TEST(VirtioFsArgs, NineP) {
  vmm::VmSpec s = Spec();
  s.virtio_fs = {};
  auto argv = vmm::qemu::BuildCommandLine(s);
  EXPECT_TRUE(Has(argv, "virtio-9p-device,fsdev=shared,mount_tag=kataShared"));
  EXPECT_FALSE(Has(argv, "memory-backend-memfd,id=ram,size=256M,share=on"));
}

TEST(VirtioFsArgs, DaemonCommandLine) {
  vmm::VirtioFsSpec fs{"/usr/lib/qemu/virtiofsd", "never", 1024, {"--thread-pool-size=2"}};
  auto argv = vmm::VirtiofsdCommandLine(fs, "/s/shared", vmm::Export::kShared);
  EXPECT_EQ(argv.front(), "/usr/lib/qemu/virtiofsd");
  EXPECT_TRUE(Has(argv, "--fd=3"));
  EXPECT_TRUE(Has(argv, "source=/s/shared"));
  EXPECT_TRUE(Has(argv, "cache=none"));
  EXPECT_TRUE(Has(argv, "sandbox=namespace"));
  EXPECT_TRUE(Has(argv, "modcaps=-mknod"));
  EXPECT_TRUE(Has(argv, "announce_submounts"));
  EXPECT_EQ(argv.back(), "--thread-pool-size=2");
  EXPECT_EQ(vmm::VirtiofsdCacheMode("always"), "always");
  // The propagated export: never cached, no submounts, whatever the config.
  fs.cache = "always";
  auto p = vmm::VirtiofsdCommandLine(fs, "/s/shared", vmm::Export::kPropagated);
  EXPECT_TRUE(Has(p, "cache=none"));
  EXPECT_FALSE(Has(p, "announce_submounts"));
}

// virtiofsd serves a user namespace's root without its capabilities: such a
// sandbox gets 9p; others keep virtio-fs.
TEST(VirtioFsChoice, UserNamespaceSandboxGetsNineP) {
  config::Config cfg;
  sandbox::SandboxConfig sc;
  sc.shared_fs_type = "virtiofs";
  sc.vm.virtio_fs = {"/usr/lib/qemu/virtiofsd", "auto", 1024, {}};
  nlohmann::json plain = nlohmann::json::parse(R"({"linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}})");
  sandbox::UseNinePForUserNamespaces(cfg, plain, &sc);
  EXPECT_EQ(sc.shared_fs_type, "virtiofs");
  nlohmann::json userns = nlohmann::json::parse(R"({"linux": {"namespaces": [{"type": "mount"}, {"type": "user"}]}})");
  sandbox::UseNinePForUserNamespaces(cfg, userns, &sc);
  EXPECT_EQ(sc.shared_fs_type, "9p");
  EXPECT_TRUE(sc.vm.virtio_fs.daemon.empty());
  EXPECT_NE(sc.shared_fs_options.find("trans=virtio"), std::string::npos);
}

// Debian's virtiofsd, started as a sandbox starts it: it accepts a
// connection on the socket, leaves no pid file under /run/virtiofsd, and
// dies when stopped.
TEST(Virtiofsd, StartsConfinedOnItsSocketAndLeavesNothing) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  if (!fs::Exists("/usr/lib/qemu/virtiofsd")) GTEST_SKIP() << "no /usr/lib/qemu/virtiofsd";
  char tmpl[] = "/tmp/kata-vfsd-test.XXXXXX";
  std::string base = mkdtemp(tmpl);
  ASSERT_TRUE(fs::MkdirAll(base + "/mounts", 0700).ok());
  ASSERT_TRUE(fs::MkdirAll(base + "/shared", 0700).ok());
  bool pidfiles_before = fs::Exists("/run/virtiofsd");
  {
    auto ns = vmm::MakeShareNamespace(base + "/mounts", base + "/shared");
    ASSERT_TRUE(ns.ok()) << ns.status().message();
    vmm::VmSpec spec = Spec();
    spec.shared_dir = base + "/shared";
    auto d = vmm::StartVirtiofsd(spec, vmm::Export::kShared, ns->get(), base + "/v.sock", base + "/v.log");
    ASSERT_TRUE(d.ok()) << d.status().message();
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, (base + "/v.sock").c_str());
    EXPECT_EQ(connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << strerror(errno);
    // A sleep on purpose: nothing shows when virtiofsd has set up its sandbox
    // (after the connection); it must not die doing so.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE((*d)->exited()) << *fs::ReadFile(base + "/v.log");
    close(s);
    (*d)->Kill();
    EXPECT_TRUE((*d)->WaitExit(std::chrono::seconds(5)));
  }
  EXPECT_EQ(fs::Exists("/run/virtiofsd"), pidfiles_before);
  EXPECT_TRUE(fs::RemoveTreeNoFollow(base).ok());
}

}  // namespace
}  // namespace kata
