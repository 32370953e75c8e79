// VM templating end to end: `kata-runtime factory init|status|destroy` and
// sandboxes started from the template (kata-runtime run with a config that
// enables it). The guest's agent must implement ReseedRandomDev and
// SetGuestDateTime: point $KATA_TEST_GUEST_DIR at a guest built from this
// tree (guest/build-guest.sh --agent BUILD/bin/kata-agent --out DIR);
// default /usr/share/kata-containers.
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "harness.h"

namespace kata::itest {
namespace {

std::string GuestDir() {
  const char* d = std::getenv("KATA_TEST_GUEST_DIR");
  return d && *d ? d : "/usr/share/kata-containers";
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

class FactoryTest : public ::testing::Test {
 protected:
  static inline TempDir* tmp = nullptr;
  static inline std::string bundle;
  static std::string Template() { return tmp->path() + "/template"; }
  static std::string Initrd() { return tmp->path() + "/initrd.img"; }

  // A config whose initrd is a private copy, so the test can make it newer.
  static std::string WriteConfig(const std::string& name, bool enable) {
    std::string path = tmp->path() + "/" + name;
    std::ofstream(path) << "[hypervisor.qemu]\n"
                        << "kernel = \"" << GuestDir() << "/vmlinux.container\"\n"
                        << "initrd = \"" << Initrd() << "\"\n"
                        << "shared_fs = \"virtio-9p\"\n"  // a template's clones cannot use virtio-fs
                        << "[factory]\n"
                        << "enable_template = " << (enable ? "true" : "false") << "\n"
                        << "template_path = \"" << Template() << "\"\n";
    return path;
  }
  static void SetUpTestSuite() {
    tmp = new TempDir();
    CmdResult cp = itest::Run({"cp", GuestDir() + "/kata-containers-initrd.img", Initrd()});
    ASSERT_EQ(cp.exit_code, 0) << cp.err;
    bundle = tmp->path() + "/bundle";
    // boot_id: made by the guest kernel at its first read, which in a clone
    // comes after the reseed; uuid: fresh from the guest CRNG at each read.
    MakeBundle(bundle, {"sh", "-c",
                        "cat /proc/sys/kernel/random/boot_id /proc/sys/kernel/random/uuid; date +%s; hostname"});
  }
  static void TearDownTestSuite() {
    Kata({"factory", "destroy"}, Conf());
    delete tmp;
    tmp = nullptr;
  }
  static std::string Conf() { return WriteConfig("on.toml", true); }
  static CmdResult Kata(std::vector<std::string> args, const std::string& conf) {
    args.insert(args.begin(), Runtime());
    return itest::Run(args, {{"KATA_CONF_FILE", conf}});
  }
  struct Guest {
    std::string boot_id, uuid, hostname;
    long long time = 0;
  };
  static Guest RunOnce(const std::string& conf, const std::string& base) {
    std::string id = UniqueId(base);
    CmdResult r = Kata({"run", "--bundle", bundle, id}, conf);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(LeaksAfter(id, 10), "");
    auto l = Lines(r.out);
    Guest g;
    if (l.size() < 4) {
      ADD_FAILURE() << "unexpected output: " << r.out << r.err;
      return g;
    }
    g.boot_id = l[0];
    g.uuid = l[1];
    g.time = std::atoll(l[2].c_str());
    g.hostname = l[3];
    return g;
  }
  // The QEMU command line of a sandbox that `create` started: a clone's
  // names the template's RAM file and waits for its state (-incoming).
  static std::string QemuCmdline(const std::string& conf, const std::string& base, const std::string& b = bundle) {
    std::string id = UniqueId(base);
    // The monitor that create leaves keeps its stdio: not our pipes.
    CmdResult c = Sh("KATA_CONF_FILE=" + conf + " " + Runtime() + " create --bundle " + b + " --pid-file " +
                     tmp->path() + "/" + id + ".pid " + id + " </dev/null >/dev/null 2>" + tmp->path() + "/create.err");
    EXPECT_EQ(c.exit_code, 0) << Sh("cat " + tmp->path() + "/create.err").out;
    std::string cmdline = Trim(Sh("pgrep -a -f '[q]emu-system.*sandbox-" + id + "( |$)' || true").out);
    CmdResult d = Kata({"delete", "--force", id}, conf);
    EXPECT_EQ(d.exit_code, 0) << d.err;
    EXPECT_EQ(LeaksAfter(id, 10), "");
    return cmdline;
  }
  static bool FromTemplate(const std::string& cmdline) {
    return cmdline.find("mem-path=" + Template() + "/memory,share=off") != std::string::npos &&
           cmdline.find("-incoming defer") != std::string::npos;
  }
  static std::string Status(const std::string& conf) {
    CmdResult r = Kata({"factory", "status"}, conf);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
};

TEST_F(FactoryTest, InitRefusedWhenTemplatingIsDisabled) {
  CmdResult r = Kata({"factory", "init"}, WriteConfig("off.toml", false));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("enable_template"), std::string::npos) << r.err;
  EXPECT_NE(Status(WriteConfig("off.toml", false)).find("template: none"), std::string::npos);
}

TEST_F(FactoryTest, ClonesStartFromTheTemplateWithTheirOwnIdentity) {
  CmdResult init = Kata({"factory", "init"}, Conf());
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_NE(Status(Conf()).find("template: valid"), std::string::npos) << Status(Conf());
  EXPECT_EQ(Trim(Sh("pgrep -a -f '[q]emu-system.*sandbox-template' || true").out), "") << "template VM left running";

  std::string clone = QemuCmdline(Conf(), "clone-create");
  EXPECT_TRUE(FromTemplate(clone)) << clone;
  EXPECT_FALSE(FromTemplate(QemuCmdline(WriteConfig("off.toml", false), "cold-create")));

  Guest a = RunOnce(Conf(), "clone-a");
  Guest b = RunOnce(Conf(), "clone-b");
  EXPECT_NE(a.boot_id, b.boot_id) << "two clones share a boot id";
  EXPECT_NE(a.uuid, b.uuid) << "two clones drew the same random numbers";
  long long now = ::time(nullptr);
  EXPECT_LE(std::llabs(now - a.time), 10) << "clone's clock is off";
  EXPECT_LE(std::llabs(now - b.time), 10) << "clone's clock is off";
  EXPECT_EQ(a.hostname, "kata");
  EXPECT_EQ(b.hostname, "kata");
}

TEST_F(FactoryTest, TwoClonesAtOnce) {
  ASSERT_NE(Status(Conf()).find("template: valid"), std::string::npos);
  std::string r = Runtime(), c = Conf();
  std::string id1 = UniqueId("par"), id2 = UniqueId("par");
  CmdResult both = Sh("KATA_CONF_FILE=" + c + " " + r + " run --bundle " + bundle + " " + id1 + " > " + tmp->path() +
                      "/o1 & KATA_CONF_FILE=" + c + " " + r + " run --bundle " + bundle + " " + id2 + " > " +
                      tmp->path() + "/o2; s2=$?; wait $!; s1=$?; exit $((s1 + s2))");
  EXPECT_EQ(both.exit_code, 0) << both.err;
  std::ifstream f1(tmp->path() + "/o1"), f2(tmp->path() + "/o2");
  std::string o1((std::istreambuf_iterator<char>(f1)), {}), o2((std::istreambuf_iterator<char>(f2)), {});
  ASSERT_GE(Lines(o1).size(), 4u) << o1;
  ASSERT_GE(Lines(o2).size(), 4u) << o2;
  EXPECT_NE(Lines(o1)[1], Lines(o2)[1]);
  EXPECT_EQ(LeaksAfter(id1, 10), "");
  EXPECT_EQ(LeaksAfter(id2, 10), "");
}

TEST_F(FactoryTest, SandboxWithAPodNetworkStartsFromTheTemplate) {
  // Every VM has the template's one NIC (unconnected without a pod network),
  // so a spec with a network namespace starts from the template too.
  std::string net = tmp->path() + "/net-bundle";
  MakeBundle(net, {"true"});
  ASSERT_EQ(Sh("sed -i 's/{\"type\": \"pid\"}/{\"type\": \"pid\"}, {\"type\": \"network\"}/' " + net +
               "/config.json && grep -q '\"network\"' " + net + "/config.json")
                .exit_code,
            0);
  ASSERT_EQ(Kata({"factory", "init"}, Conf()).exit_code, 0);
  std::string cmdline = QemuCmdline(Conf(), "netns", net);
  EXPECT_NE(cmdline.find("-netdev tap"), std::string::npos) << cmdline;
  EXPECT_TRUE(FromTemplate(cmdline)) << cmdline;
}

TEST_F(FactoryTest, DamagedTemplateStillStarts) {
  // Matches its fingerprint but QEMU rejects the state: the sandbox boots.
  std::string state = Template() + "/state";
  ASSERT_EQ(Sh("cp " + state + " " + state + ".good && head -c 1000 " + state + ".good > " + state).exit_code, 0);
  Guest g = RunOnce(Conf(), "damaged");
  EXPECT_EQ(g.hostname, "kata");
  ASSERT_EQ(Sh("mv " + state + ".good " + state).exit_code, 0);
}

TEST_F(FactoryTest, StaleTemplateBootsAndDestroyLeavesNothing) {
  // Touched but the same content (build scripts do that): still valid.
  CmdResult touch = itest::Run({"touch", "-d", "+1 minute", Initrd()});
  ASSERT_EQ(touch.exit_code, 0) << touch.err;
  EXPECT_NE(Status(Conf()).find("template: valid"), std::string::npos) << Status(Conf());
  // A different initrd (zero padding after the cpio archive: still bootable).
  ASSERT_EQ(Sh("head -c 512 /dev/zero >> " + Initrd()).exit_code, 0);
  std::string st = Status(Conf());
  EXPECT_NE(st.find("template: stale"), std::string::npos) << st;
  EXPECT_NE(st.find("initrd " + Initrd() + " changed"), std::string::npos) << st;
  std::string stale = QemuCmdline(Conf(), "stale-create");
  EXPECT_NE(stale, "");
  EXPECT_FALSE(FromTemplate(stale)) << "a stale template was used: " << stale;
  Guest after = RunOnce(Conf(), "stale");
  EXPECT_EQ(after.hostname, "kata");

  CmdResult d = Kata({"factory", "destroy"}, Conf());
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_NE(Status(Conf()).find("template: none"), std::string::npos);
  CmdResult ls = Sh("ls -d " + Template() + "* 2>/dev/null || true");
  EXPECT_EQ(Trim(ls.out), "") << "left behind";
  EXPECT_EQ(Trim(Sh("pgrep -a -f '[q]emu-system.*sandbox-template' || true").out), "");
}

}  // namespace
}  // namespace kata::itest
