#include "ttrpc/frame.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace kata::ttrpc {
namespace {

void PutU32(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}

uint32_t GetU32(const char* p) {
  auto b = [p](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(p[i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

using Clock = std::chrono::steady_clock;
constexpr Clock::time_point kNoDeadline = Clock::time_point::max();

// Waits until fd is readable; false when `deadline` passed first.
Result<bool> WaitReadable(int fd, Clock::time_point deadline) {
  for (;;) {
    int ms = -1;
    if (deadline != kNoDeadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      ms = static_cast<int>(std::min<int64_t>(left.count(), INT32_MAX));
    }
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, ms);
    if (n > 0) return true;  // readable, or EOF/error that read() reports
    if (n < 0 && errno != EINTR) return ErrnoError("ttrpc: poll");
  }
}

// One read() of up to `n` bytes (0 = EOF), retried on EINTR; also waits on
// an fd someone left non-blocking.
Result<size_t> ReadSome(int fd, char* buf, size_t n) {
  for (;;) {
    ssize_t r = ::read(fd, buf, n);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      RETURN_IF_ERROR(WaitReadable(fd, kNoDeadline).status());
    } else if (errno != EINTR) {
      return ErrnoError("ttrpc: read");
    }
  }
}

// Reads until `n` bytes or EOF; returns how many arrived (short = EOF).
// kDeadlineExceeded `stalled` when `deadline` passes first.
Result<size_t> ReadFull(int fd, char* buf, size_t n, Clock::time_point deadline,
                        const std::string& stalled) {
  size_t got = 0;
  while (got < n) {
    if (deadline != kNoDeadline) {
      ASSIGN_OR_RETURN(bool ready, WaitReadable(fd, deadline));
      if (!ready) return Error(Code::kDeadlineExceeded, stalled);
    }
    ASSIGN_OR_RETURN(size_t r, ReadSome(fd, buf + got, n - got));
    if (r == 0) break;
    got += r;
  }
  return got;
}

Status Truncated(const char* what, size_t got, size_t want) {
  return Error(Code::kDataLoss, "ttrpc: unexpected EOF in frame " + std::string(what) + " (" +
                                    std::to_string(got) + " of " + std::to_string(want) + " bytes)");
}

}  // namespace

std::string EncodeHeader(uint32_t length, uint32_t stream_id, uint8_t type, uint8_t flags) {
  std::string h(kMessageHeaderLength, '\0');
  PutU32(h.data(), length);
  PutU32(h.data() + 4, stream_id);
  h[8] = static_cast<char>(type);
  h[9] = static_cast<char>(flags);
  return h;
}

Status OversizedError(uint64_t length) {
  return Error(Code::kResourceExhausted, "message length " + std::to_string(length) +
                                             " exceed maximum message size of " +
                                             std::to_string(kMessageLengthMax));
}

Status WriteFrame(int fd, const Frame& frame) {
  if (frame.data.size() > kMessageLengthMax) return OversizedError(frame.data.size());
  // One buffer so the common case is a single syscall.
  std::string buf = EncodeHeader(static_cast<uint32_t>(frame.data.size()), frame.stream_id,
                                 frame.type, frame.flags);
  buf += frame.data;
  bool socket = true;  // virtio-serial ports are character devices: fall back to write()
  size_t off = 0;
  while (off < buf.size()) {
    ssize_t w = socket ? ::send(fd, buf.data() + off, buf.size() - off, MSG_NOSIGNAL)
                       : ::write(fd, buf.data() + off, buf.size() - off);
    if (w >= 0) {
      off += static_cast<size_t>(w);
    } else if (errno == ENOTSOCK && socket) {
      socket = false;
    } else if (errno != EINTR) {
      return ErrnoError("ttrpc: write");
    }
  }
  return Status::Ok();
}

Result<Frame> ReadFrame(int fd, std::chrono::milliseconds rest_timeout) {
  char header[kMessageHeaderLength];
  // The first read waits as long as the peer likes (an idle connection);
  // from the frame's first byte on, the rest has rest_timeout to arrive.
  ASSIGN_OR_RETURN(size_t got, ReadSome(fd, header, sizeof header));
  if (got == 0) return Error(Code::kUnavailable, "connection closed");
  const Clock::time_point deadline =
      rest_timeout == kNoFrameTimeout ? kNoDeadline : Clock::now() + rest_timeout;
  const std::string within = " not complete within " + std::to_string(rest_timeout.count()) + " ms";
  ASSIGN_OR_RETURN(size_t more, ReadFull(fd, header + got, sizeof header - got, deadline,
                                         "ttrpc: frame header" + within));
  got += more;
  if (got < sizeof header) return Truncated("header", got, sizeof header);

  Frame f;
  f.length = GetU32(header);
  f.stream_id = GetU32(header + 4);
  f.type = static_cast<uint8_t>(header[8]);
  f.flags = static_cast<uint8_t>(header[9]);
  const std::string stalled = "ttrpc: frame of " + std::to_string(f.length) + " bytes on stream " +
                              std::to_string(f.stream_id) + within;
  if (f.length > kMessageLengthMax) {
    // Like ttrpc: swallow the data so the next frame is found, and let the
    // caller answer the stream with ResourceExhausted.
    f.oversized = true;
    char sink[64 * 1024];
    for (size_t left = f.length; left > 0;) {
      size_t want = std::min(left, sizeof sink);
      ASSIGN_OR_RETURN(size_t n, ReadFull(fd, sink, want, deadline, stalled));
      if (n < want) return Truncated("data", f.length - left + n, f.length);
      left -= n;
    }
    return f;
  }
  // Grown chunk by chunk as the data arrives (see the header).
  constexpr size_t kChunk = 64 * 1024;
  while (f.data.size() < f.length) {
    size_t have = f.data.size();
    size_t want = std::min<size_t>(f.length - have, kChunk);
    f.data.resize(have + want);
    ASSIGN_OR_RETURN(size_t n, ReadFull(fd, f.data.data() + have, want, deadline, stalled));
    if (n < want) return Truncated("data", have + n, f.length);
  }
  return f;
}

}  // namespace kata::ttrpc
