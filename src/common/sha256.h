// SHA-256 (FIPS 180-4), for the shim socket name containerd's shim library
// derives: /run/containerd/s/<hex sha256(containerd address/namespace/id)>.
#pragma once

#include <string>

namespace kata {

std::string Sha256Hex(const std::string& data);

}  // namespace kata
