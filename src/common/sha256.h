// SHA-256 (FIPS 180-4), for the shim socket name containerd's shim library
// derives: /run/containerd/s/<hex sha256(containerd address/namespace/id)>;
// and a VM template's record of its guest kernel and initrd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kata {

std::string Sha256Hex(const std::string& data);

// Streaming form, for files too big to hold in memory twice (a guest kernel).
class Sha256 {
 public:
  void Update(const void* data, size_t len);
  std::string Hex();  // ends the computation

 private:
  uint32_t h_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  unsigned char buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace kata
