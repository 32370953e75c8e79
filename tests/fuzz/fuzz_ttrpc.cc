// Bytes from a ttrpc peer, two ways:
//  1. ttrpc::ReadFrame over the bytes (a memfd: header, length limit,
//     oversized-frame skipping, truncation), each frame then decoded as the
//     client does (DecodeResponse) and as a Request;
//  2. a real ttrpc::Server serving the bytes on a socketpair: Dispatch
//     (protobuf envelope, stream ids, service/method lookup, metadata,
//     timeouts, the in-flight cap) and the replies it writes back, which
//     must be well-formed Response frames.
//
// Properties: no crash, hang or sanitizer report; every reply the server
// writes is a Response frame (type 2, flags 0) whose payload parses.
#include <dirent.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

#include <google/protobuf/stubs/logging.h>

#include "fuzz_util.h"
#include "ttrpc.pb.h"
#include "ttrpc/client.h"
#include "ttrpc/frame.h"
#include "ttrpc/server.h"

using namespace kata;
namespace kt = kata::ttrpc;
using namespace std::chrono_literals;

namespace {

kt::Server& TestServer() {
  static kt::Server* server = [] {
    auto* s = new kt::Server();
    s->Register("svc", "Echo", [](const kt::CallContext&, const std::string& p) -> Result<std::string> {
      return p;
    });
    s->Register("svc", "Fail", [](const kt::CallContext& ctx, const std::string&) -> Result<std::string> {
      return Error(Code::kNotFound, "no " + ctx.method);
    });
    s->Register("svc", "Throw", [](const kt::CallContext&, const std::string&) -> Result<std::string> {
      throw std::runtime_error("boom");
    });
    s->Register("svc", "Typed",
                kt::TypedHandler<::ttrpc::KeyValue, ::ttrpc::KeyValue>(
                    [](const kt::CallContext& ctx, const ::ttrpc::KeyValue& kv) -> Result<::ttrpc::KeyValue> {
                      ::ttrpc::KeyValue out;
                      out.set_key(kv.value());
                      out.set_value(std::to_string(ctx.metadata.size()));
                      return out;
                    }));
    return s;
  }();
  return *server;
}

void DecodeFrames(const uint8_t* data, size_t size) {
  int fd = memfd_create("ttrpc-fuzz", MFD_CLOEXEC);
  FUZZ_CHECK(fd >= 0, "memfd_create");
  for (size_t off = 0; off < size;) {
    ssize_t n = ::write(fd, data + off, size - off);
    FUZZ_CHECK(n > 0, "write memfd");
    off += static_cast<size_t>(n);
  }
  ::lseek(fd, 0, SEEK_SET);
  for (;;) {
    Result<kt::Frame> f = kt::ReadFrame(fd, 1000ms);
    if (!f.ok()) {
      Code c = f.status().code();
      FUZZ_CHECK(c == Code::kUnavailable || c == Code::kDataLoss, f.status().message().c_str());
      break;
    }
    FUZZ_CHECK(f->oversized ? f->data.empty() : f->data.size() == f->length, "frame length");
    (void)kt::DecodeResponse(*f);
    ::ttrpc::Request req;
    (void)req.ParseFromString(f->data);
  }
  ::close(fd);
}

// The peer's side: reads every reply until the server closes the connection.
void CheckReplies(int fd) {
  for (;;) {
    Result<kt::Frame> f = kt::ReadFrame(fd, 5000ms);
    if (!f.ok()) {
      FUZZ_CHECK(f.status().code() == Code::kUnavailable, f.status().message().c_str());
      break;
    }
    FUZZ_CHECK(f->type == kt::kResponse && f->flags == 0 && !f->oversized, "reply frame");
    ::ttrpc::Response resp;
    FUZZ_CHECK(resp.ParseFromString(f->data), "reply payload");
  }
}

size_t ThreadCount() {
  size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

void Serve(const uint8_t* data, size_t size) {
  const size_t threads = ThreadCount();
  int sv[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
  std::thread peer([fd = sv[0], data, size] {
    for (size_t off = 0; off < size;) {
      ssize_t n = ::send(fd, data + off, size - off, MSG_NOSIGNAL);
      if (n <= 0) break;  // the server may drop us early
      off += static_cast<size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    CheckReplies(fd);
    ::close(fd);
  });
  // A small cap, so that inputs with many requests reach it.
  TestServer().ServeConnection(sv[1], kt::ConnectionOptions{.frame_timeout = 2000ms, .max_in_flight = 4});
  peer.join();
  // Handler threads outlive ServeConnection (their replies are dropped);
  // what they hold would look leaked to libFuzzer's per-input leak check.
  for (int i = 0; i < 50000 && ThreadCount() > threads; ++i) std::this_thread::sleep_for(100us);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::QuietLogs();
  google::protobuf::SetLogHandler(nullptr);  // "invalid UTF-8 in a string field", expected here
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  DecodeFrames(data, size);
  Serve(data, size);
  return 0;
}
