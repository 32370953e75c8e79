// The VM cache's wire (sandbox/vm_cache.h): the VmCache service of
// proto/vm_cache.proto over ttrpc, one connection per call. The service and
// method names are spelled here only, for the server and its clients alike.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include <google/protobuf/message_lite.h>

#include "common/status.h"

namespace kata::sandbox::vmcache_wire {

inline constexpr const char* kService = "kata.vmcache.VmCache";
inline constexpr const char* kTake = "Take";
inline constexpr const char* kStatus = "Status";
inline constexpr const char* kQuit = "Quit";

// How long a client waits for its reply; a taker then boots its own VM.
inline constexpr auto kIoTimeout = std::chrono::seconds(5);
// The largest reply a client accepts: the server is not trusted, and its
// texts end up in logs and on terminals.
inline constexpr size_t kMaxReply = 1 << 20;

// One call to the cache at `endpoint`: dials, sends `request`, fills `reply`.
// Every error names the endpoint; the server's own refusal (no VM ready,
// ...) comes back as "VM cache at ENDPOINT: WHY".
Status Call(const std::string& endpoint, const char* method, const google::protobuf::MessageLite& request,
            google::protobuf::MessageLite* reply);

}  // namespace kata::sandbox::vmcache_wire
