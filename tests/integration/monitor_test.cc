// kata-monitor against a running sandbox: /metrics parsed by Prometheus'
// own text parser (python3-prometheus-client), /sandboxes, /agent-log, and
// nothing of the sandbox reported after it is deleted.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

namespace kata::itest {
namespace {

// Every sample of `text` as "name{k=v,...} value" lines, through
// prometheus_client's parser (which fails on text Prometheus would refuse).
CmdResult ParseWithPrometheus(const std::string& text) {
  const char* script =
      "import sys\n"
      "from prometheus_client.parser import text_string_to_metric_families as parse\n"
      "for fam in parse(sys.stdin.read()):\n"
      "    for s in fam.samples:\n"
      "        labels = ','.join('%s=%s' % kv for kv in sorted(s.labels.items()))\n"
      "        print('%s{%s} %r' % (s.name, labels, s.value))\n";
  return Run({"/usr/bin/python3", "-c", script}, {}, text);  // Debian's, with python3-prometheus-client
}

class MonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = std::to_string(19000 + getpid() % 1000);
    std::string monitor = Trim(Sh("dirname " + Runtime()).out) + "/kata-monitor";
    pid_ = fork();
    if (pid_ == 0) {
      execl(monitor.c_str(), monitor.c_str(), "-listen-address", ("127.0.0.1:" + port_).c_str(), nullptr);
      _exit(127);
    }
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  std::string Get(const std::string& path) { return HttpGet("http://127.0.0.1:" + port_ + path, 10); }
  std::string port_;
  pid_t pid_ = -1;
  TempDir tmp;
};

TEST_F(MonitorTest, MetricsOfARunningSandboxParseAndGoWithIt) {
  std::string bundle = tmp.path() + "/bundle";
  MakeBundle(bundle, {"sh", "-c", "while :; do sleep 1; done"});
  std::string id = UniqueId("mon");
  CmdResult r = itest::Run({Runtime(), "run", "-d", "--bundle", bundle, id});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  EXPECT_NE(("\n" + Get("/sandboxes") + "\n").find("\n" + id + "\n"), std::string::npos);
  std::string text = Get("/metrics");
  CmdResult parsed = ParseWithPrometheus(text);
  ASSERT_EQ(parsed.exit_code, 0) << "Prometheus' parser refused the text: " << parsed.err << "\n" << text;
  std::string samples = parsed.out;
  std::string sb = "sandbox_id=" + id;
  // Host figures of the VMM and the service, the guest's, the container's.
  for (const std::string& want : std::vector<std::string>{
           "kata_hypervisor_fds{" + sb + "}", "kata_hypervisor_threads{" + sb + "}", "kata_hypervisor_pss_bytes{" + sb + "}",
        "kata_hypervisor_proc_status{item=VmRSS," + sb + "}", "kata_hypervisor_proc_stat_seconds_total{mode=user," + sb + "}",
        "kata_shim_fds{" + sb + "}", "kata_guest_meminfo{item=MemTotal," + sb + "}",
        "kata_guest_load{item=load1," + sb + "}", "kata_guest_netdev_stat{interface=lo,item=recv_bytes," + sb + "}",
        "kata_container_cpu_usage_seconds_total{container_id=" + id + "," + sb + "}",
        "kata_container_memory_usage_bytes{container_id=" + id + "," + sb + "}", "kata_monitor_running_sandboxes{}",
        "kata_sandbox_boot_seconds_count{}"}) {
    EXPECT_NE(samples.find(want + " "), std::string::npos) << want << " missing in:\n" << samples;
  }
  EXPECT_NE(samples.find("kata_guest_meminfo{item=MemTotal," + sb + "} "), std::string::npos);

  // The guest console (the agent's log) of that sandbox, and of no other.
  CmdResult log = Sh("curl -s -o /dev/null -w '%{http_code}' 'http://127.0.0.1:" + port_ + "/agent-log?sandbox=" + id + "'");
  EXPECT_EQ(Trim(log.out), "200");
  CmdResult bad = Sh("curl -s -o /dev/null -w '%{http_code}' 'http://127.0.0.1:" + port_ + "/agent-log?sandbox=../../etc'");
  EXPECT_EQ(Trim(bad.out), "404");

  ASSERT_EQ(itest::Run({Runtime(), "delete", "--force", id}).exit_code, 0);
  EXPECT_EQ(LeaksAfter(id, 10), "");
  EXPECT_EQ(Get("/sandboxes").find(id), std::string::npos);
  EXPECT_EQ(Get("/metrics").find(id), std::string::npos) << "a deleted sandbox is still reported";
}

}  // namespace
}  // namespace kata::itest
