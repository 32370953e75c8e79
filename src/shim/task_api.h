// Names shared by the files that implement containerd.task.v2.Task.
#pragma once

#include <chrono>

#include "task.pb.h"
#include "ttrpc/server.h"
#include "wkt.pb.h"

namespace kata::shim {

namespace task = containerd::task::v2;
using ttrpc::CallContext;
using ttrpc::TypedHandler;
using Empty = kata::wkt::Empty;
inline constexpr const char* kTaskService = "containerd.task.v2.Task";

void SetTimestamp(wkt::Timestamp* ts, std::chrono::system_clock::time_point t);

}  // namespace kata::shim
