#include "agent/guest_memory.h"

#include <cstdio>
#include <cstdlib>

#include "common/fs.h"
#include "common/strings.h"

namespace kata::agent {
namespace {

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// block_size_bytes is hexadecimal without a prefix ("8000000").
Result<uint64_t> BlockSize(const std::string& sys) {
  ASSIGN_OR_RETURN(std::string text, fs::ReadFile(sys + "/block_size_bytes"));
  text = Trim(text);
  char* end = nullptr;
  unsigned long long v = std::strtoull(text.c_str(), &end, 16);
  if (text.empty() || *end != '\0' || v == 0) {
    return Error(Code::kInternal, sys + "/block_size_bytes is not a block size: \"" + text + "\"");
  }
  return static_cast<uint64_t>(v);
}

Status AddBlock(uint64_t address, uint64_t block_size, const std::string& sys) {
  std::string block = sys + "/memory" + std::to_string(address / block_size);
  if (!fs::Exists(block)) {
    RETURN_IF_ERROR(fs::WriteExisting(sys + "/probe", Hex(address)).Wrap("add the memory block at " + Hex(address)));
  }
  auto state = fs::ReadFile(block + "/state");
  if (state.ok() && Trim(*state) == "online") return Status::Ok();
  return fs::WriteExisting(block + "/state", "online").Wrap("bring the memory block at " + Hex(address) + " online");
}

}  // namespace

Status AddMemoryBlocks(const std::vector<uint64_t>& addresses, const std::string& sys) {
  if (addresses.size() > kMaxMemoryBlocksPerRequest) {
    return Error(Code::kInvalidArgument, std::to_string(addresses.size()) + " memory blocks asked for at once, at most " +
                                             std::to_string(kMaxMemoryBlocksPerRequest));
  }
  if (addresses.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(uint64_t block_size, BlockSize(sys));
  for (uint64_t a : addresses) {
    if (a % block_size != 0) {
      return Error(Code::kInvalidArgument, "memory block address " + Hex(a) + " is not a multiple of the guest's " +
                                               "block size " + Hex(block_size));
    }
    RETURN_IF_ERROR(AddBlock(a, block_size, sys));
  }
  return Status::Ok();
}

}  // namespace kata::agent
