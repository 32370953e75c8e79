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

// Reads until `n` bytes or EOF; returns how many arrived (short = EOF).
Result<size_t> ReadFull(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, buf + got, n - got);
    if (r > 0) {
      got += static_cast<size_t>(r);
    } else if (r == 0) {
      break;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      pollfd p{fd, POLLIN, 0};  // tolerate an fd someone left non-blocking
      ::poll(&p, 1, -1);
    } else if (errno != EINTR) {
      return ErrnoError("ttrpc: read");
    }
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

Result<Frame> ReadFrame(int fd) {
  char header[kMessageHeaderLength];
  ASSIGN_OR_RETURN(size_t got, ReadFull(fd, header, sizeof header));
  if (got == 0) return Error(Code::kUnavailable, "connection closed");
  if (got < sizeof header) return Truncated("header", got, sizeof header);

  Frame f;
  f.length = GetU32(header);
  f.stream_id = GetU32(header + 4);
  f.type = static_cast<uint8_t>(header[8]);
  f.flags = static_cast<uint8_t>(header[9]);
  if (f.length > kMessageLengthMax) {
    // Like ttrpc: swallow the data so the next frame is found, and let the
    // caller answer the stream with ResourceExhausted.
    f.oversized = true;
    char sink[64 * 1024];
    for (size_t left = f.length; left > 0;) {
      size_t want = std::min(left, sizeof sink);
      ASSIGN_OR_RETURN(size_t n, ReadFull(fd, sink, want));
      if (n < want) return Truncated("data", f.length - left + n, f.length);
      left -= n;
    }
    return f;
  }
  f.data.resize(f.length);
  ASSIGN_OR_RETURN(size_t n, ReadFull(fd, f.data.data(), f.length));
  if (n < f.length) return Truncated("data", n, f.length);
  return f;
}

}  // namespace kata::ttrpc
