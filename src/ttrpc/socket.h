// Unix stream sockets, the transport ttrpc uses (common/unix_socket.h).
#pragma once

#include "common/unix_socket.h"

namespace kata::ttrpc {

using kata::DialUnix;
using kata::ListenUnix;

}  // namespace kata::ttrpc
