// SHA-256, from Debian's nettle: the shim socket name containerd's shim
// library derives (/run/containerd/s/<hex sha256(address/namespace/id)>),
// and a VM template's record of its guest kernel and initrd.
#pragma once

#include <nettle/sha2.h>

#include <cstddef>
#include <string>

namespace kata {

std::string Sha256Hex(const std::string& data);

// Streaming form, for files too big to hold in memory twice (a guest kernel).
class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t len);
  std::string Hex();  // ends the computation

 private:
  sha256_ctx ctx_;
};

}  // namespace kata
