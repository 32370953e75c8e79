// The sandbox's side of the VM cache protocol (sandbox/vm_cache.h) against a
// fake server: what a taker makes of each kind of reply.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sandbox/vm_cache.h"
#include "ttrpc/socket.h"

namespace kata::sandbox {
namespace {

class VmCacheProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmcache-proto.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    endpoint_ = dir_ + "/cache.sock";
  }
  void TearDown() override {
    if (server_.joinable()) server_.join();
    std::system(("rm -rf " + dir_).c_str());
  }
  // Serves one connection: records the request line, answers `reply`.
  void ServeOnce(const std::string& reply) {
    auto fd = ttrpc::ListenUnix(endpoint_);
    ASSERT_TRUE(fd.ok()) << fd.status().message();
    server_ = std::thread([this, lfd = *fd, reply] {
      int c = accept(lfd, nullptr, nullptr);
      char buf[4096];
      ssize_t n = c >= 0 ? read(c, buf, sizeof buf) : -1;
      if (n > 0) request_.assign(buf, static_cast<size_t>(n));
      if (c >= 0) {
        std::string line = reply + "\n";
        ssize_t w = write(c, line.data(), line.size());
        (void)w;
        close(c);
      }
      close(lfd);
    });
  }

  std::string dir_, endpoint_, request_;
  std::thread server_;
};

TEST_F(VmCacheProtocolTest, NoServerNamesTheEndpointAndHowToStartOne) {
  auto r = TakeCachedVm(endpoint_, "fp");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(endpoint_), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("kata-runtime factory init"), std::string::npos) << r.status().message();
}

TEST_F(VmCacheProtocolTest, TakeSendsTheFingerprintAndReadsTheVm) {
  ServeOnce(R"({"vm_id":"vmcache-12-3","pid":4242})");
  auto r = TakeCachedVm(endpoint_, "kernel=/k\nmemory_mib=128\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->id, "vmcache-12-3");
  EXPECT_EQ(r->pid, 4242);
  server_.join();
  auto req = nlohmann::json::parse(request_);
  EXPECT_EQ(req.value("op", ""), "take");
  EXPECT_EQ(req.value("fingerprint", ""), "kernel=/k\nmemory_mib=128\n");
}

TEST_F(VmCacheProtocolTest, TheServersReasonIsPassedOn) {
  ServeOnce(R"({"error":"no VM ready yet"})");
  auto r = TakeCachedVm(endpoint_, "fp");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no VM ready yet"), std::string::npos) << r.status().message();
}

TEST_F(VmCacheProtocolTest, MalformedRepliesAreRefused) {
  struct Case {
    const char* reply;
    const char* says;
  };
  for (const Case& c : {Case{"not json", "not JSON"}, Case{R"({"vm_id":"vmcache-1-1"})", "no vm_id and pid"},
                        Case{R"({"vm_id":7,"pid":1})", "no vm_id and pid"},
                        Case{R"({"vm_id":"../../etc","pid":1})", "bad VM id"},
                        Case{R"({"vm_id":"","pid":1})", "bad VM id"}}) {
    ServeOnce(c.reply);
    auto r = TakeCachedVm(endpoint_, "fp");
    server_.join();
    ASSERT_FALSE(r.ok()) << c.reply;
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << c.reply << ": " << r.status().message();
  }
}

TEST_F(VmCacheProtocolTest, AVmIsAliveOnlyIfItsProcessNamesIt) {
  EXPECT_FALSE(CachedVmAlive(CachedVm{"vmcache-1-1", getpid()}));  // this test is not that VM's QEMU
  EXPECT_FALSE(CachedVmAlive(CachedVm{"vmcache-1-1", -1}));
}

}  // namespace
}  // namespace kata::sandbox
