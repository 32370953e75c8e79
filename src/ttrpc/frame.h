// ttrpc framing: a 10-byte big-endian header then Length bytes of data.
// Constants and error texts mirror containerd/ttrpc channel.go exactly, since
// containerd and the Go shims are the peers we must interoperate with.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace kata::ttrpc {

inline constexpr size_t kMessageHeaderLength = 10;
inline constexpr uint32_t kMessageLengthMax = 4 << 20;  // 4 MiB of data, header excluded

// Message types (header byte 8).
inline constexpr uint8_t kRequest = 1;
inline constexpr uint8_t kResponse = 2;
inline constexpr uint8_t kData = 3;

struct Frame {
  uint32_t stream_id = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
  std::string data;
  // Set by ReadFrame when the header announced more than kMessageLengthMax:
  // the data was read and thrown away (so the byte stream stays in sync) and
  // the peer is owed a ResourceExhausted answer on stream_id. `length` is the
  // Length from the header (for every frame ReadFrame returns).
  bool oversized = false;
  uint32_t length = 0;
};

// The 10 header bytes: Length, StreamID (both uint32 big-endian), Type, Flags.
std::string EncodeHeader(uint32_t length, uint32_t stream_id, uint8_t type, uint8_t flags);

// ResourceExhausted "message length N exceed maximum message size of 4194304"
// (ttrpc's wording, grammar included).
Status OversizedError(uint64_t length);

// Writes one whole frame, retrying partial writes and EINTR. Refuses data over
// kMessageLengthMax with ResourceExhausted before writing anything. Uses
// MSG_NOSIGNAL on sockets so a vanished peer is an EPIPE error, not SIGPIPE.
// Callers sharing an fd must serialize calls (frames must not interleave).
Status WriteFrame(int fd, const Frame& frame);

// How long a peer may take to send the rest of a frame once its first byte
// came. Between frames a peer may be idle for as long as it likes; inside one
// a stalled peer would hold the reader (a serving thread) and the frame's
// buffer forever. 4 MiB take well under a second even over virtio-serial.
inline constexpr std::chrono::milliseconds kFrameReadTimeout{30000};
// No deadline inside a frame either (Client: its peer is the server it chose).
inline constexpr std::chrono::milliseconds kNoFrameTimeout = std::chrono::milliseconds::max();

// Reads exactly one frame from a blocking fd. Waits for the first byte
// without limit, then at most `rest_timeout` for the rest. The data buffer
// grows 64 KiB at a time as bytes arrive (never past kMessageLengthMax), so a
// peer that announces 4 MiB and sends nothing does not hold 4 MiB.
//   EOF before any header byte -> kUnavailable "connection closed"
//   EOF inside a frame         -> kDataLoss
//   rest not in time           -> kDeadlineExceeded
//   read() failure             -> the errno error
Result<Frame> ReadFrame(int fd, std::chrono::milliseconds rest_timeout = kFrameReadTimeout);

}  // namespace kata::ttrpc
