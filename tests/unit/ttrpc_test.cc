// ttrpc framing, client and server, over socketpairs, unix sockets and a FIFO
// (standing in for a virtio-serial port whose host end comes and goes).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/log.h"
#include "ttrpc.pb.h"
#include "ttrpc/client.h"
#include "ttrpc/frame.h"
#include "ttrpc/server.h"
#include "wait_until.h"

namespace kata::ttrpc {
namespace {

using namespace std::chrono_literals;
using test_util::WaitUntil;

// A one-shot gate shared (by shared_ptr) with handler threads, which may
// outlive the test body by a moment.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  void Open() {
    std::lock_guard lk(mu);
    open = true;
    cv.notify_all();
  }
  void Wait() {
    std::unique_lock lk(mu);
    cv.wait(lk, [this] { return open; });
  }
};

std::pair<int, int> SocketPair() {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  return {sv[0], sv[1]};
}

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    ASSERT_GT(n, 0);
    off += static_cast<size_t>(n);
  }
}

std::string RequestBytes(const std::string& service, const std::string& method,
                         const std::string& payload = "") {
  ::ttrpc::Request req;
  req.set_service(service);
  req.set_method(method);
  req.set_payload(payload);
  return req.SerializeAsString();
}

::ttrpc::Response ReadResponse(int fd, uint32_t want_stream) {
  Result<Frame> f = ReadFrame(fd);
  EXPECT_TRUE(f.ok()) << f.status().message();
  ::ttrpc::Response resp;
  if (!f.ok()) return resp;
  EXPECT_EQ(f->stream_id, want_stream);
  EXPECT_EQ(f->type, kResponse);
  EXPECT_EQ(f->flags, 0);
  EXPECT_TRUE(resp.ParseFromString(f->data));
  return resp;
}

// A server serving one end of a socketpair on its own thread.
class TtrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto [a, b] = SocketPair();
    peer_fd_ = a;
    serving_ = std::thread([this, fd = b] { server_.ServeConnection(fd); });
    server_.Register("test.Echo", "Echo", [](const CallContext&, const std::string& p) -> Result<std::string> {
      return "echo:" + p;
    });
  }
  void TearDown() override {
    client_.reset();
    if (peer_fd_ >= 0) ::close(peer_fd_);
    serving_.join();
  }
  // Hands the peer end to a Client (which then owns it).
  Client& client() {
    client_ = std::make_unique<Client>(peer_fd_);
    peer_fd_ = -1;
    return *client_;
  }

  Server server_;
  int peer_fd_ = -1;
  std::thread serving_;
  std::unique_ptr<Client> client_;
};

TEST(FrameTest, HeaderIsBigEndianLengthStreamTypeFlags) {
  EXPECT_EQ(EncodeHeader(0x00010203, 0x0A0B0C0D, kResponse, 0x04),
            std::string("\x00\x01\x02\x03\x0A\x0B\x0C\x0D\x02\x04", 10));

  auto [a, b] = SocketPair();
  ASSERT_TRUE(WriteFrame(a, Frame{.stream_id = 0x01020305, .type = kRequest, .flags = 0x02, .data = "abc"}).ok());
  char raw[13];
  ASSERT_EQ(::read(b, raw, sizeof raw), 13);
  EXPECT_EQ(std::string(raw, 13), std::string("\x00\x00\x00\x03\x01\x02\x03\x05\x01\x02" "abc", 13));

  ASSERT_TRUE(WriteFrame(a, Frame{.stream_id = 7, .type = kData, .flags = 5, .data = "xyz!"}).ok());
  Result<Frame> f = ReadFrame(b);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->stream_id, 7u);
  EXPECT_EQ(f->type, kData);
  EXPECT_EQ(f->flags, 5);
  EXPECT_EQ(f->data, "xyz!");
  EXPECT_FALSE(f->oversized);
  ::close(a);
  ::close(b);
}

TEST(FrameTest, EofAtBoundaryIsUnavailableAndMidFrameIsDataLoss) {
  {
    auto [a, b] = SocketPair();
    ::close(a);
    Result<Frame> f = ReadFrame(b);
    EXPECT_EQ(f.status().code(), Code::kUnavailable);
    EXPECT_EQ(f.status().message(), "connection closed");
    ::close(b);
  }
  {
    auto [a, b] = SocketPair();
    WriteAll(a, std::string("\x00\x00\x00", 3));  // half a header
    ::close(a);
    EXPECT_EQ(ReadFrame(b).status().code(), Code::kDataLoss);
    ::close(b);
  }
  {
    auto [a, b] = SocketPair();
    WriteAll(a, EncodeHeader(10, 1, kRequest, 0) + "short");  // 5 of 10 data bytes
    ::close(a);
    EXPECT_EQ(ReadFrame(b).status().code(), Code::kDataLoss);
    ::close(b);
  }
}

TEST(FrameTest, MaximumSizeRoundTripsAndLargerIsRefused) {
  auto [a, b] = SocketPair();
  Frame big{.stream_id = 1, .type = kRequest, .flags = 0, .data = std::string(kMessageLengthMax, 'x')};
  std::thread writer([&, fd = a] { EXPECT_TRUE(WriteFrame(fd, big).ok()); });
  Result<Frame> f = ReadFrame(b);
  writer.join();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->data.size(), kMessageLengthMax);

  big.data.push_back('x');
  Status st = WriteFrame(a, big);
  EXPECT_EQ(st.code(), Code::kResourceExhausted);
  EXPECT_EQ(st.message(), "message length 4194305 exceed maximum message size of 4194304");
  ::close(a);
  EXPECT_EQ(ReadFrame(b).status().code(), Code::kUnavailable);  // nothing was written
  ::close(b);
}

TEST_F(TtrpcTest, ConcurrentCallsCompleteOutOfOrder) {
  auto gate = std::make_shared<Gate>();
  server_.Register("test.Echo", "Slow", [gate](const CallContext&, const std::string& p) -> Result<std::string> {
    gate->Wait();
    return "slow:" + p;
  });
  Client& c = client();
  std::thread slow([&] {
    Result<std::string> r = c.Call("test.Echo", "Slow", "s", 0ms);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(*r, "slow:s");
  });
  // While Slow blocks, many fast calls from many threads all complete.
  std::vector<std::thread> fast;
  for (int i = 0; i < 32; ++i) {
    fast.emplace_back([&c, i] {
      for (int j = 0; j < 10; ++j) {
        std::string p = std::to_string(i) + "/" + std::to_string(j);
        Result<std::string> r = c.Call("test.Echo", "Echo", p, 5000ms);
        ASSERT_TRUE(r.ok()) << r.status().message();
        EXPECT_EQ(*r, "echo:" + p);
      }
    });
  }
  for (auto& t : fast) t.join();
  gate->Open();
  slow.join();
}

TEST_F(TtrpcTest, OversizedFrameGetsResourceExhaustedAndConnectionSurvives) {
  std::thread writer([fd = peer_fd_] {
    WriteAll(fd, EncodeHeader(kMessageLengthMax + 1, 5, kRequest, 0));
    WriteAll(fd, std::string(kMessageLengthMax + 1, '\0'));
  });
  ::ttrpc::Response resp = ReadResponse(peer_fd_, 5);
  writer.join();
  EXPECT_EQ(resp.status().code(), static_cast<int>(Code::kResourceExhausted));
  EXPECT_EQ(resp.status().message(), "message length 4194305 exceed maximum message size of 4194304");

  std::string req = RequestBytes("test.Echo", "Echo", "after");
  WriteAll(peer_fd_, EncodeHeader(req.size(), 7, kRequest, 0) + req);
  resp = ReadResponse(peer_fd_, 7);
  EXPECT_EQ(resp.status().code(), 0);
  EXPECT_EQ(resp.payload(), "echo:after");
}

TEST_F(TtrpcTest, UnknownServiceAndMethodAreUnimplemented) {
  Client& c = client();
  Result<std::string> r = c.Call("no.Such", "Echo", "", 1000ms);
  EXPECT_EQ(r.status().code(), Code::kUnimplemented);
  EXPECT_EQ(r.status().message(), "service no.Such");
  r = c.Call("test.Echo", "Nope", "", 1000ms);
  EXPECT_EQ(r.status().code(), Code::kUnimplemented);
  EXPECT_EQ(r.status().message(), "method Nope");
}

TEST_F(TtrpcTest, EvenStreamIdAndGarbageRequestAreInvalidArgument) {
  std::string req = RequestBytes("test.Echo", "Echo");
  WriteAll(peer_fd_, EncodeHeader(req.size(), 2, kRequest, 0) + req);
  ::ttrpc::Response resp = ReadResponse(peer_fd_, 2);
  EXPECT_EQ(resp.status().code(), static_cast<int>(Code::kInvalidArgument));
  EXPECT_EQ(resp.status().message(), "StreamID must be odd for client initiated streams");

  std::string garbage("\xff\xff\xff", 3);
  WriteAll(peer_fd_, EncodeHeader(garbage.size(), 3, kRequest, 0) + garbage);
  resp = ReadResponse(peer_fd_, 3);
  EXPECT_EQ(resp.status().code(), static_cast<int>(Code::kInvalidArgument));
}

TEST_F(TtrpcTest, NonRequestFramesAreIgnored) {
  std::string req = RequestBytes("test.Echo", "Echo", "x");
  WriteAll(peer_fd_, EncodeHeader(req.size(), 9, kData, 0) + req);
  WriteAll(peer_fd_, EncodeHeader(req.size(), 11, kRequest, 0) + req);
  ::ttrpc::Response resp = ReadResponse(peer_fd_, 11);  // nothing came back for 9
  EXPECT_EQ(resp.payload(), "echo:x");
  // Go's server always sends a status, code 0 on success: field 1, empty.
  EXPECT_TRUE(resp.has_status());
}

TEST_F(TtrpcTest, HandlerErrorCodeAndMessagePropagate) {
  server_.Register("test.Echo", "Fail", [](const CallContext&, const std::string&) -> Result<std::string> {
    return Error(Code::kNotFound, "container abc not found");
  });
  Result<std::string> r = client().Call("test.Echo", "Fail", "", 1000ms);
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "container abc not found");
}

TEST_F(TtrpcTest, ContextCarriesMetadataAndDeadline) {
  auto seen = std::make_shared<CallContext>();
  server_.Register("test.Echo", "Ctx", [seen](const CallContext& ctx, const std::string&) -> Result<std::string> {
    *seen = ctx;
    return std::string();
  });
  auto before = std::chrono::steady_clock::now();
  Metadata md{{"containerd-namespace-ttrpc", "default"}, {"k", "1"}, {"k", "2"}};
  ASSERT_TRUE(client().Call("test.Echo", "Ctx", "", 2000ms, md).ok());
  EXPECT_EQ(seen->service, "test.Echo");
  EXPECT_EQ(seen->method, "Ctx");
  EXPECT_EQ(seen->metadata, md);
  ASSERT_TRUE(seen->deadline.has_value());
  EXPECT_GT(*seen->deadline, before + 1500ms);
  EXPECT_LT(*seen->deadline, before + 2500ms);
  ASSERT_TRUE(client_->Call("test.Echo", "Ctx", "", 0ms).ok());
  EXPECT_FALSE(seen->deadline.has_value());  // no timeout -> timeout_nano 0 -> none
}

TEST_F(TtrpcTest, TimeoutIsDeadlineExceededAndLateReplyIsDropped) {
  auto gate = std::make_shared<Gate>();
  auto done = std::make_shared<std::atomic<bool>>(false);
  server_.Register("test.Echo", "Slow", [gate, done](const CallContext&, const std::string&) -> Result<std::string> {
    gate->Wait();
    *done = true;
    return std::string("late");
  });
  Client& c = client();
  auto start = std::chrono::steady_clock::now();
  Result<std::string> r = c.Call("test.Echo", "Slow", "", 50ms);
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  gate->Open();
  ASSERT_TRUE(WaitUntil([&] { return done->load(); }, 5000ms, 1ms));
  // The late reply (stream 1) must not be mistaken for this call's.
  r = c.Call("test.Echo", "Echo", "next", 1000ms);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "echo:next");
  EXPECT_FALSE(c.closed());
}

TEST(TtrpcClientTest, PeerCloseFailsPendingAndLaterCalls) {
  auto [a, b] = SocketPair();
  Client c(a);
  std::thread closer([fd = b] {
    Result<Frame> f = ReadFrame(fd);  // the request arrives, then the peer vanishes
    EXPECT_TRUE(f.ok());
    EXPECT_EQ(f->stream_id, 1u);
    ::close(fd);
  });
  Result<std::string> r = c.Call("svc", "M", "", 0ms);
  closer.join();
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("connection closed"), std::string::npos) << r.status().message();
  EXPECT_TRUE(c.closed());
  r = c.Call("svc", "M", "", 0ms);
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("connection closed"), std::string::npos);
}

TEST(TtrpcClientTest, RequestEncodingAndStreamIds) {
  auto [a, b] = SocketPair();
  Client c(a);
  std::thread server([fd = b] {
    for (uint32_t want : {1u, 3u, 5u}) {
      Result<Frame> f = ReadFrame(fd);
      ASSERT_TRUE(f.ok());
      EXPECT_EQ(f->stream_id, want);
      EXPECT_EQ(f->type, kRequest);
      EXPECT_EQ(f->flags, 0);
      ::ttrpc::Request req;
      ASSERT_TRUE(req.ParseFromString(f->data));
      EXPECT_EQ(req.service(), "containerd.task.v2.Task");
      EXPECT_EQ(req.method(), "State");
      EXPECT_EQ(req.timeout_nano(), want == 1 ? 1500000000 : 0);
      ::ttrpc::Response resp;
      resp.set_payload(req.payload());  // no status at all = OK for Go clients
      ASSERT_TRUE(WriteFrame(fd, Frame{.stream_id = want, .type = kResponse, .flags = 0,
                                       .data = resp.SerializeAsString()}).ok());
    }
    ::close(fd);
  });
  EXPECT_EQ(*c.Call("containerd.task.v2.Task", "State", "p1", 1500ms), "p1");
  EXPECT_EQ(*c.Call("containerd.task.v2.Task", "State", "p3", 0ms), "p3");
  // Typed helper, with KeyValue standing in for a real request/response pair.
  ::ttrpc::KeyValue in, out;
  in.set_key("k");
  in.set_value("v");
  ASSERT_TRUE(c.Call("containerd.task.v2.Task", "State", in, &out, 0ms).ok());
  EXPECT_EQ(out.key(), "k");
  EXPECT_EQ(out.value(), "v");
  server.join();
}

TEST(TtrpcListenerTest, UnixSocketServeTypedAndShutdown) {
  char dir[] = "/tmp/ttrpc_test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/s.sock";
  {  // a stale socket from a dead process is replaced
    Result<int> stale = ListenUnix(path);
    ASSERT_TRUE(stale.ok());
    ::close(*stale);
  }
  Result<int> lfd = ListenUnix(path);
  ASSERT_TRUE(lfd.ok()) << lfd.status().message();
  struct stat sb;
  ASSERT_EQ(::stat(path.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);

  Server server;
  server.Register("kv", "Swap", TypedHandler<::ttrpc::KeyValue, ::ttrpc::KeyValue>(
                                    [](const CallContext&, const ::ttrpc::KeyValue& req) -> Result<::ttrpc::KeyValue> {
                                      ::ttrpc::KeyValue out;
                                      out.set_key(req.value());
                                      out.set_value(req.key());
                                      return out;
                                    }));
  std::thread accept_loop([&, fd = *lfd] { server.ServeListener(fd); });
  for (int i = 0; i < 3; ++i) {  // several connections at once
    Result<int> fd = DialUnix(path);
    ASSERT_TRUE(fd.ok()) << fd.status().message();
    Client c(*fd);
    ::ttrpc::KeyValue in, out;
    in.set_key("a");
    in.set_value("b");
    ASSERT_TRUE(c.Call("kv", "Swap", in, &out, 1000ms).ok());
    EXPECT_EQ(out.key(), "b");
    EXPECT_EQ(out.value(), "a");
    Result<std::string> bad = c.Call("kv", "Swap", std::string("\xff", 1), 1000ms);
    EXPECT_EQ(bad.status().code(), Code::kInternal);  // payload unmarshal failure, as ttrpc
  }
  Result<int> held = DialUnix(path);  // a connection open across Shutdown
  ASSERT_TRUE(held.ok());
  Client held_client(*held);
  ASSERT_TRUE(held_client.Call("kv", "Swap", std::string(), 1000ms).ok());
  server.Shutdown();
  accept_loop.join();
  Result<std::string> r = held_client.Call("kv", "Swap", std::string(), 1000ms);
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_FALSE(DialUnix(path).ok());
  EXPECT_EQ(DialUnix(dir + std::string("/missing")).status().code(), Code::kNotFound);
}

// A FIFO standing in for the agent's virtio-serial port (see below): `rfd`
// is the agent's blocking read end; the directory goes with the object.
struct FifoPort {
  FifoPort() {
    char tmpl[] = "/tmp/ttrpc_dev.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return;
    dir = tmpl;
    path = dir + "/port";
    if (::mkfifo(path.c_str(), 0600) != 0) return;
    rfd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (rfd >= 0 && ::fcntl(rfd, F_SETFL, 0) != 0) rfd = -1;  // blocking, like the agent's port
  }
  ~FifoPort() {
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
  }
  std::string dir, path;
  int rfd = -1;
};

// What the library logs (warnings and up) while it lives, for a test to wait
// on a message; the log goes back to log.cc's default (stderr, info, text)
// after, with what it caught.
class LogCapture {
 public:
  LogCapture() {
    if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) == 0) log::Configure(fds_[1], log::Level::kWarn, log::Format::kText);
  }
  ~LogCapture() {
    if (fds_[0] < 0) return;
    log::Configure(2, log::Level::kInfo, log::Format::kText);
    Drain();
    if (!text_.empty()) (void)!::write(2, text_.data(), text_.size());
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  // Whether a line with `what` was logged so far.
  bool Has(const std::string& what) {
    Drain();
    return text_.find(what) != std::string::npos;
  }

 private:
  void Drain() {
    char buf[4096];
    ssize_t n;
    while (fds_[0] >= 0 && (n = ::read(fds_[0], buf, sizeof buf)) > 0) text_.append(buf, static_cast<size_t>(n));
  }
  int fds_[2] = {-1, -1};
  std::string text_;
};

// The serving thread arms SIGIO on the port (O_ASYNC, server.cc's
// SignalThisThreadOnChange) each time it starts to wait for a host, after
// EOF: the one sign, seen from outside, that it took the host's going away.
bool WaitsForAHost(int fd) { return (::fcntl(fd, F_GETFL) & O_ASYNC) != 0; }

// A FIFO behaves like a virtio-serial port for the reader: read() returns 0
// and poll() says POLLHUP while no writer (host) is attached; a new writer
// can attach later. Replies cannot go back (write on a read-only fd fails),
// which also exercises "drop the response while disconnected".
TEST(TtrpcDeviceTest, ReconnectingDeviceSurvivesPeerGoingAway) {
  FifoPort port;
  ASSERT_GE(port.rfd, 0) << "could not make the FIFO port";
  const std::string& path = port.path;
  int rfd = port.rfd;

  Server server;
  auto calls = std::make_shared<std::atomic<int>>(0);
  server.Register("svc", "Ping", [calls](const CallContext&, const std::string&) -> Result<std::string> {
    ++*calls;
    return std::string("pong");
  });
  std::atomic<bool> returned{false};
  std::thread serving([&] {
    server.ServeConnection(rfd, ConnectionOptions{.reconnecting_device = true});
    returned = true;
  });
  std::string req = RequestBytes("svc", "Ping");
  auto session = [&](const std::string& bytes) {
    int w = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(w, 0);
    WriteAll(w, bytes);
    ::close(w);
  };
  auto wait_calls = [&](int n) {
    WaitUntil([&] { return *calls >= n; }, 2500ms, 5ms);
    EXPECT_EQ(*calls, n);
  };
  {  // host stays connected while the reply is attempted: the write fails, is dropped
    LogCapture log;
    int w = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(w, 0);
    WriteAll(w, EncodeHeader(req.size(), 1, kRequest, 0) + req);
    wait_calls(1);
    EXPECT_TRUE(WaitUntil([&] { return log.Has("dropping response on stream 1"); }, 5000ms, 5ms))
        << "no reply attempted while the host was connected";
    ::close(w);
  }
  EXPECT_TRUE(WaitUntil([&] { return WaitsForAHost(rfd); }, 5000ms, 5ms)) << "the server did not see the host go";
  std::this_thread::sleep_for(50ms);  // disconnected for a while: still serving
  EXPECT_FALSE(returned);
  EXPECT_EQ(::fcntl(rfd, F_SETFL, ::fcntl(rfd, F_GETFL) & ~O_ASYNC), 0);  // to see it armed again
  session(EncodeHeader(req.size(), 1, kRequest, 0) + req.substr(0, 2));  // dies mid-frame
  // The next session must not begin before the server took this one's end
  // (a FIFO would join the bytes of both).
  EXPECT_TRUE(WaitUntil([&] { return WaitsForAHost(rfd); }, 5000ms, 5ms)) << "the server did not see the host go";
  session(EncodeHeader(req.size(), 1, kRequest, 0) + req);  // partial frame was dropped
  wait_calls(2);
  EXPECT_FALSE(returned);

  server.Shutdown();
  serving.join();  // disconnected, so the wait loop sees the stop
  EXPECT_TRUE(returned);
}


// True when the peer closed `fd` (EOF) within `limit`.
bool ClosedWithin(int fd, std::chrono::milliseconds limit) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return false;
  char c;
  return ::read(fd, &c, 1) == 0;
}

// A server with Echo and a Slow method that counts its calls and waits for
// a gate, serving one end of a socketpair with `opts`.
struct LimitsFixture {
  explicit LimitsFixture(ConnectionOptions opts) {
    auto [a, b] = SocketPair();
    peer = a;
    server.Register("test.Echo", "Echo", [](const CallContext&, const std::string& p) -> Result<std::string> {
      return "echo:" + p;
    });
    server.Register("test.Echo", "Slow", [gate = gate, started = started](const CallContext&, const std::string&)
                                             -> Result<std::string> {
      ++*started;
      gate->Wait();
      return std::string("slow");
    });
    serving = std::thread([this, fd = b, opts] { server.ServeConnection(fd, opts); });
  }
  ~LimitsFixture() {
    gate->Open();
    ::close(peer);
    serving.join();
  }
  void Send(uint32_t id, const std::string& method, const std::string& payload = "") {
    std::string req = RequestBytes("test.Echo", method, payload);
    WriteAll(peer, EncodeHeader(req.size(), id, kRequest, 0) + req);
  }
  void WaitStarted(int n) {
    WaitUntil([&] { return *started >= n; }, 5000ms, 5ms);
    ASSERT_EQ(*started, n);
  }

  Server server;
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();
  std::shared_ptr<std::atomic<int>> started = std::make_shared<std::atomic<int>>(0);
  int peer = -1;
  std::thread serving;
};

TEST(TtrpcLimitsTest, StalledHalfHeaderDropsTheConnectionIdleDoesNot) {
  LimitsFixture f(ConnectionOptions{.frame_timeout = 200ms});
  std::this_thread::sleep_for(400ms);  // idle between frames for longer than the timeout: fine
  f.Send(1, "Echo", "x");
  EXPECT_EQ(ReadResponse(f.peer, 1).payload(), "echo:x");

  auto start = std::chrono::steady_clock::now();
  WriteAll(f.peer, EncodeHeader(100, 3, kRequest, 0).substr(0, 5));  // half a header, then silence
  EXPECT_TRUE(ClosedWithin(f.peer, 5000ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
}

TEST(TtrpcLimitsTest, StalledFrameDataDropsTheConnection) {
  LimitsFixture f(ConnectionOptions{.frame_timeout = 200ms});
  // A trickle does not help: the deadline is for the whole rest of the frame,
  // so the server hangs up long before a byte every 50 ms has sent it all.
  std::string req = RequestBytes("test.Echo", "Echo", std::string(100, 'y'));
  WriteAll(f.peer, EncodeHeader(req.size(), 1, kRequest, 0));
  size_t sent = 0;
  for (; sent < 40; ++sent) {
    if (::send(f.peer, req.data() + sent, 1, MSG_NOSIGNAL) != 1) break;  // EPIPE: dropped
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_LT(sent, 40u);
}

TEST(TtrpcLimitsTest, ReadFrameDeadlineOnlyAfterTheFirstByte) {
  auto [a, b] = SocketPair();
  WriteAll(a, EncodeHeader(1000, 1, kRequest, 0) + "only ten b");
  Result<Frame> f = ReadFrame(b, 100ms);
  EXPECT_EQ(f.status().code(), Code::kDeadlineExceeded);
  EXPECT_EQ(f.status().message(), "ttrpc: frame of 1000 bytes on stream 1 not complete within 100 ms");
  ::close(a);
  ::close(b);
  std::tie(a, b) = SocketPair();
  std::thread late([fd = a] {  // the first byte may take as long as it likes
    std::this_thread::sleep_for(300ms);
    WriteAll(fd, EncodeHeader(3, 5, kRequest, 0) + "abc");
  });
  f = ReadFrame(b, 100ms);
  late.join();
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->data, "abc");
  ::close(a);
  ::close(b);
}

TEST(TtrpcLimitsTest, RequestsPastTheInFlightCapAreResourceExhausted) {
  LimitsFixture f(ConnectionOptions{.max_in_flight = 4});
  for (uint32_t id : {1u, 3u, 5u, 7u}) f.Send(id, "Slow");
  f.WaitStarted(4);
  f.Send(9, "Echo", "over");
  ::ttrpc::Response resp = ReadResponse(f.peer, 9);
  EXPECT_EQ(resp.status().code(), static_cast<int>(Code::kResourceExhausted));
  EXPECT_EQ(resp.status().message(), "ttrpc: 4 requests already in flight on this connection");

  f.gate->Open();
  std::set<uint32_t> answered;
  for (int i = 0; i < 4; ++i) {
    Result<Frame> fr = ReadFrame(f.peer);
    ASSERT_TRUE(fr.ok());
    answered.insert(fr->stream_id);
  }
  EXPECT_EQ(answered, (std::set<uint32_t>{1, 3, 5, 7}));
  // Once answered, the slots are free again at once.
  for (uint32_t id : {11u, 13u, 15u, 17u}) f.Send(id, "Slow");
  f.WaitStarted(8);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(ReadFrame(f.peer).ok());
  f.Send(19, "Echo", "again");
  EXPECT_EQ(ReadResponse(f.peer, 19).payload(), "echo:again");
}

// The agent's connection carries WaitProcess, ReadStdout and ReadStderr for
// every process of the pod at once: the default cap must admit a big pod.
TEST(TtrpcLimitsTest, DefaultCapAdmitsABigPodsLongCalls) {
  LimitsFixture f(ConnectionOptions{});
  constexpr int kCalls = 3 * 200;  // 200 processes
  for (int i = 0; i < kCalls; ++i) f.Send(2 * i + 1, "Slow");
  f.WaitStarted(kCalls);
  f.gate->Open();
  for (int i = 0; i < kCalls; ++i) {
    Result<Frame> fr = ReadFrame(f.peer);
    ASSERT_TRUE(fr.ok());
    ::ttrpc::Response resp;
    ASSERT_TRUE(resp.ParseFromString(fr->data));
    EXPECT_EQ(resp.status().code(), 0);
  }
}

// On a device the connection cannot be dropped: the stalled partial frame
// is, and the next frame from the host is served.
TEST(TtrpcDeviceTest, StalledPartialFrameIsDroppedAndServingGoesOn) {
  FifoPort port;
  ASSERT_GE(port.rfd, 0) << "could not make the FIFO port";
  const std::string& path = port.path;
  int rfd = port.rfd;
  Server server;
  auto calls = std::make_shared<std::atomic<int>>(0);
  server.Register("svc", "Ping", [calls](const CallContext&, const std::string&) -> Result<std::string> {
    ++*calls;
    return std::string("pong");
  });
  std::thread serving([&] {
    server.ServeConnection(rfd, ConnectionOptions{.reconnecting_device = true, .frame_timeout = 200ms});
  });
  LogCapture log;
  int w = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);  // the host stays connected throughout
  ASSERT_GE(w, 0);
  std::string req = RequestBytes("svc", "Ping");
  WriteAll(w, EncodeHeader(req.size(), 1, kRequest, 0) + req.substr(0, 2));
  // The next frame only once the stalled one is dropped (after the 200 ms).
  EXPECT_TRUE(WaitUntil([&] { return log.Has("on stream 1 not complete within 200 ms: partial frame dropped"); },
                        5000ms, 5ms));
  WriteAll(w, EncodeHeader(req.size(), 3, kRequest, 0) + req);
  WaitUntil([&] { return *calls >= 1; }, 2500ms, 5ms);
  EXPECT_EQ(*calls, 1);
  ::close(w);
  server.Shutdown();
  serving.join();
}

TEST(TtrpcClientTest, DecodeResponseMapsStatusAndPayload) {
  ::ttrpc::Response resp;
  resp.set_payload("p");
  Frame f{.stream_id = 1, .type = kResponse, .flags = 0, .data = resp.SerializeAsString()};
  EXPECT_EQ(*DecodeResponse(f), "p");
  resp.mutable_status()->set_code(99);
  resp.mutable_status()->set_message("odd");
  f.data = resp.SerializeAsString();
  EXPECT_EQ(DecodeResponse(f).status().code(), Code::kUnknown);
  f.data = std::string("\xff", 1);
  EXPECT_EQ(DecodeResponse(f).status().code(), Code::kInternal);
  f.oversized = true;
  f.length = kMessageLengthMax + 1;
  EXPECT_EQ(DecodeResponse(f).status().code(), Code::kResourceExhausted);
}

}  // namespace
}  // namespace kata::ttrpc
