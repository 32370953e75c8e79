// The VM cache's wire format (sandbox/vm_cache.h): one JSON line each way
// per connection. Shared by the server and its clients.
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"

namespace kata::sandbox::vmcache {

constexpr auto kIoTimeout = std::chrono::seconds(5);

// One '\n'-terminated line (at most 1 MiB), without the '\n'.
Result<std::string> ReadLine(int fd, std::chrono::milliseconds timeout);
Status WriteLine(int fd, const std::string& text);

}  // namespace kata::sandbox::vmcache
