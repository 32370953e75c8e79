// The runtime-spec as the guest agent applies it, checked from inside
// containers of ONE shared VM: capabilities, seccomp, rlimits, terminals
// (tty name, window size, resize, EOF), cgroup limits, device rules,
// pause/resume, stats, update, and kill --all through the cgroup.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "harness.h"
#include "shared_vm.h"
#include "sandbox/container.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_config.h"

namespace kata::itest {
namespace {

using nlohmann::json;

class AgentFeaturesTest : public SharedVmTest {
 protected:
  static void SetUpTestSuite() { BootSharedVm("feat"); }
  static void TearDownTestSuite() { ShutDownSharedVm(); }

  static json Process(const std::vector<std::string>& args, bool terminal) {
    json p = {{"terminal", terminal},
              {"user", {{"uid", 0}, {"gid", 0}}},
              {"args", args},
              {"env", {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
              {"cwd", "/"}};
    if (terminal) p["consoleSize"] = {{"height", 30}, {"width", 100}};
    return p;
  }
  // Reads an exec'd process's stdout through the agent until `until` shows up (or EOF).
  static std::string ReadUntil(const std::string& cid, const std::string& eid, const std::string& until = "") {
    std::string out;
    for (;;) {
      auto chunk = sandbox_->agent().ReadStream(cid, eid, false);
      if (!chunk.ok() || chunk->empty()) break;
      out += *chunk;
      if (!until.empty() && out.find(until) != std::string::npos) break;
    }
    return out;
  }
  // A busybox container that sleeps, started, for exec-based cases.
  std::unique_ptr<sandbox::Container> Sleeper(const std::string& name,
                                              const std::function<void(json&)>& edit = nullptr) {
    auto c = NewContainer(name, {"sleep", "600"}, edit);
    if (c) {
      EXPECT_TRUE(c->Start().ok());
    }
    return c;
  }
};

TEST_F(AgentFeaturesTest, CapabilitiesSeccompRlimitsAndSysctl) {
  auto c = NewContainer("sec", {"sh", "-c",
                                "grep -E '^Cap(Eff|Bnd|Amb)' /proc/self/status; mkdir /tmp/d 2>&1; ulimit -n; ulimit -Hn;"
                                "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; cat /proc/sys/kernel/msgmax;"
                                "cat /proc/self/oom_score_adj; umask; id -G; ls -l /dev/fd /dev/stdin | cut -c1;"
                                "touch /tmp/x && chown 5 /tmp/x 2>&1 || true"},
                        [](json& s) {
                          s["process"]["capabilities"] = {
                              {"bounding", {"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID"}},
                              {"effective", {"CAP_KILL", "CAP_NET_BIND_SERVICE"}},
                              {"permitted", {"CAP_KILL", "CAP_NET_BIND_SERVICE"}},
                              {"inheritable", json::array()},
                              {"ambient", json::array()}};
                          s["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"hard", 900}, {"soft", 800}}};
                          s["process"]["oomScoreAdj"] = 123;
                          s["process"]["user"]["umask"] = 23;  // 0027
                          s["process"]["user"]["additionalGids"] = {10, 20};
                          s["linux"]["sysctl"] = {{"kernel.msgmax", "4242"}};
                          s["linux"]["seccomp"] = {
                              {"defaultAction", "SCMP_ACT_ALLOW"},
                              {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"}},
                              {"syscalls", {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_ERRNO"}}}}};
                        });
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Start().ok());
  EXPECT_EQ(c->init().Wait().status, 0);
  std::string out = Output("sec");
  // KILL(5) | NET_BIND_SERVICE(10); bounding adds SETGID(6) | SETUID(7).
  EXPECT_NE(out.find("CapEff:\t0000000000000420"), std::string::npos) << out;
  EXPECT_NE(out.find("CapBnd:\t00000000000004e0"), std::string::npos) << out;
  EXPECT_NE(out.find("CapAmb:\t0000000000000000"), std::string::npos) << out;
  EXPECT_NE(out.find("Operation not permitted"), std::string::npos) << out;
  EXPECT_NE(out.find("800\n900\n"), std::string::npos) << out;
  EXPECT_NE(out.find("NoNewPrivs:\t1"), std::string::npos) << out;
  EXPECT_NE(out.find("Seccomp:\t2"), std::string::npos) << out;
  EXPECT_NE(out.find("4242\n123\n0027\n0 10 20\nl\nl\n"), std::string::npos) << out;
  EXPECT_NE(out.find("chown: /tmp/x: Operation not permitted"), std::string::npos) << out;  // no CAP_CHOWN
  EXPECT_TRUE(c->Delete(false).ok());
}

TEST_F(AgentFeaturesTest, TerminalExecTtyResizeAndEof) {
  auto c = Sleeper("tty");
  ASSERT_NE(c, nullptr);
  auto& agent = sandbox_->agent();
  ASSERT_TRUE(agent.ExecProcess("tty", "t1", Process({"sh", "-c", "tty; stty size; read x; stty size"}, true).dump()).ok());
  std::string out = ReadUntil("tty", "t1", "30 100\r\n");
  EXPECT_EQ(out.rfind("/dev/pts/", 0), 0u) << out;
  EXPECT_NE(out.find("30 100\r\n"), std::string::npos) << out;
  ASSERT_TRUE(agent.TtyWinResize("tty", "t1", 50, 132).ok());
  ASSERT_TRUE(agent.WriteStdin("tty", "t1", "go\n").ok());
  out = ReadUntil("tty", "t1");
  EXPECT_NE(out.find("50 132"), std::string::npos) << out;
  auto st = agent.WaitProcess("tty", "t1");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(*st, 0);

  // CloseStdin on a terminal = EOF for a reader in canonical mode.
  ASSERT_TRUE(agent.ExecProcess("tty", "t2", Process({"sh", "-c", "cat; echo cat-done"}, true).dump()).ok());
  ASSERT_TRUE(agent.WriteStdin("tty", "t2", "abc\n").ok());
  ASSERT_TRUE(agent.CloseStdin("tty", "t2").ok());
  out = ReadUntil("tty", "t2");
  EXPECT_NE(out.find("cat-done"), std::string::npos) << out;
  st = agent.WaitProcess("tty", "t2");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(*st, 0);
  // No terminal: resize is refused.
  ASSERT_TRUE(agent.ExecProcess("tty", "t3", Process({"true"}, false).dump()).ok());
  EXPECT_FALSE(agent.TtyWinResize("tty", "t3", 10, 10).ok());
  (void)agent.WaitProcess("tty", "t3");
  EXPECT_TRUE(c->Delete(true).ok());
}

TEST_F(AgentFeaturesTest, TerminalContainerInit) {
  std::string bundle = tmp_->path() + "/ttyinit";
  MakeBundle(bundle, {"sh", "-c", "tty; stty size"}, /*tty=*/true);
  std::ifstream in(bundle + "/config.json");
  json spec = json::parse(in);
  spec["process"]["consoleSize"] = {{"height", 33}, {"width", 111}};
  sandbox::StdioPaths io{"", bundle + "/stdout", "", true};
  close(open(io.out.c_str(), O_CREAT | O_WRONLY, 0644));
  auto c = sandbox::Container::Create(*sandbox_, "ttyinit", bundle, spec, io);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE((*c)->Start().ok());
  EXPECT_EQ((*c)->init().Wait().status, 0);
  std::string out = Output("ttyinit");
  EXPECT_EQ(out.rfind("/dev/pts/0\r\n33 111\r\n", 0), 0u) << out;
  EXPECT_TRUE((*c)->Delete(false).ok());
}

TEST_F(AgentFeaturesTest, CgroupLimitsVisibleInside) {
  auto c = NewContainer("cg", {"sh", "-c",
                               "cat /proc/self/cgroup; cd /sys/fs/cgroup && cat memory.max memory.low pids.max cpu.max cpu.weight "
                               "cpuset.cpus"},
                        [](json& s) {
                          s["mounts"].push_back({{"destination", "/sys/fs/cgroup"},
                                                 {"type", "cgroup"},
                                                 {"source", "cgroup"},
                                                 {"options", {"ro", "nosuid", "noexec", "nodev"}}});
                          s["linux"]["namespaces"].push_back({{"type", "cgroup"}});
                          s["linux"]["resources"] = {
                              {"memory", {{"limit", 67108864}, {"reservation", 16777216}}},
                              {"pids", {{"limit", 50}}},
                              {"cpu", {{"shares", 512}, {"quota", 50000}, {"period", 100000}, {"cpus", "0"}}}};
                        });
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Start().ok());
  EXPECT_EQ(c->init().Wait().status, 0);
  EXPECT_EQ(Output("cg"), "0::/\n67108864\n16777216\n50\n50000 100000\n20\n0\n") << Output("cg", "stderr");
  EXPECT_TRUE(c->Delete(false).ok());
}

// linux.resources.devices in the guest (a BPF device program on the
// container's cgroup): docker's shape, deny all then exceptions. The
// container may mknod any node but open only what the rules and the default
// list allow: /dev/null, and /dev/kmsg (1:11) for reading only (without the
// filter root in the container could write to the guest's kernel log).
TEST_F(AgentFeaturesTest, DeviceRulesAreEnforced) {
  auto c = NewContainer("dev", {"sh", "-c",
                                "echo x >/dev/null && echo null-ok; "
                                "mknod /dev/k c 1 11 && head -c 1 /dev/k >/dev/null && echo kmsg-read-ok; "
                                "echo x 2>/dev/null >/dev/k && echo kmsg-write-ok || echo kmsg-write-denied"},
                        [](json& s) {
                          for (const char* set : {"bounding", "effective", "permitted"}) {
                            s["process"]["capabilities"][set].push_back("CAP_MKNOD");
                          }
                          s["linux"]["resources"]["devices"] = {
                              {{"allow", false}, {"access", "rwm"}},
                              {{"allow", true}, {"type", "c"}, {"major", 1}, {"minor", 11}, {"access", "r"}}};
                        });
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Start().ok());
  EXPECT_EQ(c->init().Wait().status, 0);
  EXPECT_EQ(Output("dev"), "null-ok\nkmsg-read-ok\nkmsg-write-denied\n") << Output("dev", "stderr");
  EXPECT_TRUE(c->Delete(false).ok());
}

// startContainer hooks run inside the guest container, before its process,
// with the state on stdin (src/agent/container/start_hooks.h).
TEST_F(AgentFeaturesTest, StartContainerHookRunsInTheGuestContainer) {
  auto c = NewContainer("hk", {"cat", "/tmp/hook-state"}, [](json& s) {
    s["hooks"]["startContainer"] = {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat > /tmp/hook-state"}}}};
  });
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Start().ok());
  EXPECT_EQ(c->init().Wait().status, 0);
  EXPECT_NE(Output("hk").find("\"id\":\"hk\""), std::string::npos) << Output("hk") << Output("hk", "stderr");
  EXPECT_TRUE(c->Delete(false).ok());
}

TEST_F(AgentFeaturesTest, PauseResumeStatsUpdate) {
  auto c = NewContainer("loop", {"sh", "-c", "i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done"});
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Start().ok());
  auto& agent = sandbox_->agent();
  WaitUntil([] { return !Output("loop").empty(); }, 10s);  // the loop runs

  ASSERT_TRUE(agent.PauseContainer("loop").ok());
  auto stats = agent.StatsContainer("loop");
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_TRUE(stats->frozen());
  Status refused = agent.ExecProcess("loop", "frozen", Process({"true"}, false).dump());
  EXPECT_NE(refused.message().find("paused"), std::string::npos) << refused.message();
  // Sleeps, not waits: output already in flight reaches the file (no sign
  // marks its end), then 1.5 s in which the paused loop must NOT progress.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  size_t paused_at = Output("loop").size();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(Output("loop").size(), paused_at) << "a paused container made progress";
  ASSERT_TRUE(agent.ResumeContainer("loop").ok());
  WaitUntil([&] { return Output("loop").size() > paused_at; }, 10s);
  EXPECT_GT(Output("loop").size(), paused_at) << "no progress after resume";

  stats = agent.StatsContainer("loop");
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_FALSE(stats->frozen());
  EXPECT_GT(stats->cpu().usage_usec(), 0u);
  EXPECT_GT(stats->memory().usage(), 0u);
  EXPECT_GE(stats->pids().current(), 1u);
  EXPECT_GE(stats->pids_list_size(), 1);
  EXPECT_TRUE(stats->raw().count("cpu.stat"));
  EXPECT_EQ(stats->memory().limit(), UINT64_MAX);
  std::printf("stats: cpu %lu us, memory %lu bytes, pids %lu\n", (unsigned long)stats->cpu().usage_usec(),
              (unsigned long)stats->memory().usage(), (unsigned long)stats->pids().current());

  ASSERT_TRUE(agent.UpdateContainer("loop", R"({"memory": {"limit": 33554432}, "pids": {"limit": 20},
                                               "cpu": {"quota": 20000, "period": 100000}})").ok());
  stats = agent.StatsContainer("loop");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->memory().limit(), 33554432u);
  EXPECT_EQ(stats->pids().limit(), 20u);
  EXPECT_FALSE(agent.UpdateContainer("loop", "not json").ok());
  EXPECT_FALSE(agent.PauseContainer("no-such-container").ok());

  // Inside, through an exec (which joins the container's cgroup).
  ASSERT_TRUE(agent.ExecProcess("loop", "e1", Process({"sh", "-c", "cat /proc/self/cgroup; cat /proc/1/cgroup"}, false).dump()).ok());
  std::string out = ReadUntil("loop", "e1");
  EXPECT_NE(out.find("0::/kata/loop\n0::/kata/loop\n"), std::string::npos) << out;  // no cgroup namespace here
  (void)agent.WaitProcess("loop", "e1");

  // kill --all goes through the cgroup.
  ASSERT_TRUE(c->Kill("", 9, true).ok());
  EXPECT_EQ(c->init().Wait().status, 128 + 9);
  EXPECT_TRUE(c->Delete(false).ok());
}

}  // namespace
}  // namespace kata::itest
