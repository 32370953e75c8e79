// The VM cache's typed protocol (proto/vm_cache.proto over ttrpc,
// sandbox/vm_cache_wire.h). The client side against a fake ttrpc server that
// answers whatever a test makes it answer: what a taker, `factory status` and
// `factory destroy` make of each kind of reply, the server being untrusted.
// The server side (ServeVmCache) with the fake hypervisor (root only: its
// sandboxes are real but live in this process's own /run, PrivateHostPaths).
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "fake_hypervisor.h"
#include "sandbox/template_fingerprint.h"
#include "sandbox/vm_cache.h"
#include "sandbox/vm_cache_wire.h"
#include "ttrpc/server.h"
#include "ttrpc/socket.h"
#include "wait_until.h"

namespace kata::sandbox {
namespace {

using namespace std::chrono_literals;

const auto* const kPrivateHostPaths = ::testing::AddGlobalTestEnvironment(new test_util::PrivateHostPaths);

std::string Serialized(const google::protobuf::MessageLite& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

vmcache::TakeReply Vm(const std::string& id, int32_t pid) {
  vmcache::TakeReply r;
  r.set_vm_id(id);
  r.set_pid(pid);
  return r;
}

bool Has(const Status& st, const std::string& text) { return st.message().find(text) != std::string::npos; }

// A ttrpc server on the endpoint answering every VmCache method with the
// payload (or error) a test sets, and recording what it was asked.
class FakeCacheServer {
 public:
  explicit FakeCacheServer(const std::string& endpoint) {
    for (const char* m : {vmcache_wire::kTake, vmcache_wire::kStatus, vmcache_wire::kQuit}) {
      rpc_.Register(vmcache_wire::kService, m, [this](const ttrpc::CallContext& ctx, const std::string& payload) {
        std::lock_guard<std::mutex> lock(mu_);
        method_ = ctx.method;
        request_ = payload;
        return answer_;
      });
    }
    auto fd = ttrpc::ListenUnix(endpoint);
    EXPECT_TRUE(fd.ok()) << fd.status().message();
    if (fd.ok()) thread_ = std::thread(&ttrpc::Server::ServeListener, &rpc_, *fd);
  }
  ~FakeCacheServer() {
    rpc_.Shutdown();
    if (thread_.joinable()) thread_.join();
  }
  void Answer(Result<std::string> answer) {
    std::lock_guard<std::mutex> lock(mu_);
    answer_ = std::move(answer);
  }
  std::string method() {
    std::lock_guard<std::mutex> lock(mu_);
    return method_;
  }
  std::string request() {
    std::lock_guard<std::mutex> lock(mu_);
    return request_;
  }

 private:
  ttrpc::Server rpc_;
  std::thread thread_;
  std::mutex mu_;
  Result<std::string> answer_ = std::string();
  std::string method_, request_;
};

class VmCacheProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmcache-proto.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    endpoint_ = dir_ + "/cache.sock";
  }
  void TearDown() override { (void)fs::RemoveAll(dir_); }

  std::string dir_, endpoint_;
};

TEST_F(VmCacheProtocolTest, NoServerNamesTheEndpointAndHowToStartOne) {
  auto take = TakeCachedVm(endpoint_, "fp");
  auto status = AskVmCacheStatus(endpoint_, "fp");
  Status quit = QuitVmCache(endpoint_);
  for (const Status& st : {take.status(), status.status(), quit}) {
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), Code::kUnavailable);
    EXPECT_TRUE(Has(st, "no VM cache answers at " + endpoint_)) << st.message();
    EXPECT_TRUE(Has(st, "start one with `kata-runtime factory init`")) << st.message();
  }
}

TEST_F(VmCacheProtocolTest, TakeSendsTheFingerprintAndReadsTheVm) {
  FakeCacheServer server(endpoint_);
  server.Answer(Serialized(Vm("vmcache-12-3", 4242)));
  auto r = TakeCachedVm(endpoint_, "kernel=/k\nmemory_mib=128\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->id, "vmcache-12-3");
  EXPECT_EQ(r->pid, 4242);
  EXPECT_EQ(server.method(), "Take");
  vmcache::TakeRequest req;
  ASSERT_TRUE(req.ParseFromString(server.request()));
  EXPECT_EQ(req.fingerprint(), "kernel=/k\nmemory_mib=128\n");
}

TEST_F(VmCacheProtocolTest, TheServersReasonIsPassedOn) {
  FakeCacheServer server(endpoint_);
  server.Answer(Error(Code::kUnavailable, "no VM ready yet (last failure: boot timed out)"));
  auto r = TakeCachedVm(endpoint_, "fp");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "VM cache at " + endpoint_ + ": no VM ready yet (last failure: boot timed out)");
  EXPECT_FALSE(AskVmCacheStatus(endpoint_).ok());
  EXPECT_FALSE(QuitVmCache(endpoint_).ok());
}

TEST_F(VmCacheProtocolTest, StatusAndQuitCarryTheirMessages) {
  FakeCacheServer server(endpoint_);
  vmcache::StatusReply status;
  status.set_ready(1);
  status.set_size(2);
  status.set_warm(true);
  status.set_last_error("boot failed");
  status.set_mismatch("the cached VMs are made differently: memory_mib changed");
  server.Answer(Serialized(status));
  auto r = AskVmCacheStatus(endpoint_, "memory_mib=512\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(server.method(), "Status");
  vmcache::StatusRequest req;
  ASSERT_TRUE(req.ParseFromString(server.request()));
  EXPECT_EQ(req.fingerprint(), "memory_mib=512\n");
  EXPECT_EQ(r->ready(), 1);
  EXPECT_EQ(r->size(), 2);
  EXPECT_TRUE(r->warm());
  EXPECT_EQ(r->last_error(), "boot failed");
  EXPECT_EQ(r->mismatch(), "the cached VMs are made differently: memory_mib changed");

  server.Answer(std::string());
  EXPECT_TRUE(QuitVmCache(endpoint_).ok());
  EXPECT_EQ(server.method(), "Quit");
}

TEST_F(VmCacheProtocolTest, MalformedRepliesAreRefused) {
  struct Case {
    std::string reply;
    const char* says;
  };
  const Case cases[] = {
      {"\xff\xff\xff", "sent a reply that is not a kata.vmcache.TakeReply"},
      {Serialized(Vm("vmcache-1-1", 0)), "sent no vm_id and pid"},
      {Serialized(Vm("vmcache-1-1", -5)), "sent no vm_id and pid"},
      {Serialized(Vm("", 77)), "sent no vm_id and pid"},
      {Serialized(Vm("../../etc", 1)), "sent a bad VM id \"../../etc\""},
      {Serialized(Vm(".", 1)), "bad VM id"},
      {Serialized(Vm(std::string("vm\0x", 4), 1)), "bad VM id"},
      {Serialized(Vm(std::string(129, 'a'), 1)), "bad VM id"},
      {Serialized(Vm(std::string(2 << 20, 'a'), 1)), "sent a reply longer than 1 MiB"},
  };
  FakeCacheServer server(endpoint_);
  for (const Case& c : cases) {
    server.Answer(c.reply);
    auto r = TakeCachedVm(endpoint_, "fp");
    ASSERT_FALSE(r.ok()) << c.says;
    EXPECT_TRUE(Has(r.status(), "VM cache at " + endpoint_)) << r.status().message().substr(0, 300);
    EXPECT_TRUE(Has(r.status(), c.says)) << c.says << ": " << r.status().message().substr(0, 300);
    EXPECT_LT(r.status().message().size(), 1000u) << "the server's text is quoted unbounded";
  }
}

// A server that accepts and never answers: the taker gives up (and boots).
TEST_F(VmCacheProtocolTest, ASilentServerIsGivenUpOn) {
  auto lfd = ttrpc::ListenUnix(endpoint_);
  ASSERT_TRUE(lfd.ok()) << lfd.status().message();
  auto t0 = std::chrono::steady_clock::now();
  auto r = TakeCachedVm(endpoint_, "fp");
  auto took = std::chrono::steady_clock::now() - t0;
  close(*lfd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded) << r.status().message();
  EXPECT_TRUE(Has(r.status(), "VM cache at " + endpoint_)) << r.status().message();
  EXPECT_LT(took, vmcache_wire::kIoTimeout + 2s);
}

// The pid check: a VM's pid counts only while that process's command line
// names the VM (a reused pid is not killed or adopted).
TEST_F(VmCacheProtocolTest, AVmIsAliveOnlyIfItsProcessNamesIt) {
  EXPECT_FALSE(CachedVmAlive(CachedVm{"vmcache-1-1", getpid()}));  // this test is not that VM's QEMU
  EXPECT_FALSE(CachedVmAlive(CachedVm{"vmcache-1-1", -1}));
  EXPECT_FALSE(CachedVmAlive(CachedVm{"vmcache-1-1", 0}));
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    setpgid(0, 0);  // sh's sleep goes with it (kill below)
    execl("/bin/sh", "sh", "-c", "sleep 30", "/run/vc/vm/vmcache-1-1/qemu.sock", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Until the exec.
  EXPECT_TRUE(test_util::WaitUntil([&] { return CachedVmAlive(CachedVm{"vmcache-1-1", child}); }, 2s));
  EXPECT_FALSE(CachedVmAlive(CachedVm{"vmcache-1-2", child}));
  kill(-child, SIGKILL);
  kill(child, SIGKILL);  // had it not reached setpgid
  waitpid(child, nullptr, 0);
  EXPECT_FALSE(CachedVmAlive(CachedVm{"vmcache-1-1", child}));
}

// The real server, its VMs made by the fake hypervisor (no warm-up: the fake
// runs no guest): what it says and hands over through the typed protocol.
class VmCacheServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0 || !test_util::InPrivateHostPaths()) GTEST_SKIP() << "needs root (sandboxes, /run/vc)";
    opts_.shape.hypervisor = "fake";
    opts_.shape.agent_timeout = 5s;
    opts_.size = 1;
    opts_.endpoint = "/run/vmcache-unit/cache.sock";
    server_ = std::thread([this] { served_ = ServeVmCache(opts_); });
  }
  void TearDown() override {
    if (!server_.joinable()) return;
    (void)QuitVmCache(opts_.endpoint);
    server_.join();
  }
  bool WaitReady() {
    return test_util::WaitUntil(
        [&] {
          auto s = AskVmCacheStatus(opts_.endpoint);
          return s.ok() && s->ready() == 1;
        },
        30s, 100ms);
  }

  test_util::FakeBackend backend_;
  VmCacheOptions opts_;
  std::thread server_;
  Status served_;
};

TEST_F(VmCacheServerTest, SaysWhatItHoldsHandsAVmOverAndQuits) {
  ASSERT_TRUE(WaitReady()) << "no VM ready";
  std::string fp = TemplateFingerprint(opts_.shape.vm);
  auto st = AskVmCacheStatus(opts_.endpoint, fp);
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_EQ(st->size(), 1);
  EXPECT_FALSE(st->warm());
  EXPECT_EQ(st->mismatch(), "");
  EXPECT_EQ(st->last_error(), "");

  vmm::VmSpec bigger = opts_.shape.vm;
  bigger.memory_mib += 512;
  auto stale = AskVmCacheStatus(opts_.endpoint, TemplateFingerprint(bigger));
  ASSERT_TRUE(stale.ok()) << stale.status().message();
  EXPECT_TRUE(stale->mismatch().starts_with("the cached VMs are made differently: ")) << stale->mismatch();
  auto refused = TakeCachedVm(opts_.endpoint, TemplateFingerprint(bigger));
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(Has(refused.status(), "VM cache at " + opts_.endpoint + ": the cached VMs are made differently"))
      << refused.status().message();

  auto vm = TakeCachedVm(opts_.endpoint, fp);
  ASSERT_TRUE(vm.ok()) << vm.status().message();
  EXPECT_TRUE(vm->id.starts_with("vmcache-" + std::to_string(getpid()) + "-")) << vm->id;
  EXPECT_GT(vm->pid, 0);
  kill(vm->pid, SIGKILL);  // the fake VMM, now ours; the agent's reaper reaps it
  DiscardCachedVm(*vm);

  ASSERT_TRUE(QuitVmCache(opts_.endpoint).ok());
  server_.join();
  EXPECT_TRUE(served_.ok()) << served_.message();
  EXPECT_FALSE(fs::Exists(opts_.endpoint)) << "socket left";
  EXPECT_FALSE(AskVmCacheStatus(opts_.endpoint).ok());
}

TEST_F(VmCacheServerTest, ASecondServerIsRefused) {
  ASSERT_TRUE(WaitReady()) << "no VM ready";
  Status second = ServeVmCache(opts_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.code(), Code::kAlreadyExists);
  EXPECT_TRUE(Has(second, "a VM cache already serves at " + opts_.endpoint)) << second.message();
  EXPECT_TRUE(AskVmCacheStatus(opts_.endpoint).ok()) << "the first server was disturbed";
}

}  // namespace
}  // namespace kata::sandbox
