#include "cli/parse.h"

#include <charconv>

namespace kata::cli {
namespace {

constexpr uint32_t kMaxId = UINT32_MAX - 1;

// Digits only (with an optional '-'), nothing after them; nullopt otherwise.
std::optional<int64_t> Decimal(const std::string& text, bool* out_of_range) {
  int64_t v = 0;
  // from_chars accepts no '+', no spaces and no "0x": exactly what we want.
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  *out_of_range = ec == std::errc::result_out_of_range;
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::string Quote(const std::string& text) {
  constexpr size_t kMax = 64;
  return "\"" + (text.size() <= kMax ? text : text.substr(0, kMax) + "...") + "\"";
}

Result<int64_t> ParseInteger(const std::string& text, const std::string& what, int64_t min, int64_t max) {
  bool out_of_range = false;
  auto v = Decimal(text, &out_of_range);
  if (out_of_range || (v && (*v < min || *v > max))) {
    return Error(Code::kInvalidArgument, "invalid " + what + " " + Quote(text) + ": want an integer from " +
                                             std::to_string(min) + " to " + std::to_string(max));
  }
  if (!v) return Error(Code::kInvalidArgument, "invalid " + what + " " + Quote(text) + ": want an integer");
  return *v;
}

Result<UserSpec> ParseUserSpec(const std::string& text) {
  auto bad = [&] {
    return Error(Code::kInvalidArgument, "invalid user " + Quote(text) + ": want UID[:GID], numbers from 0 to " +
                                             std::to_string(kMaxId));
  };
  size_t colon = text.find(':');
  bool out_of_range = false;
  auto uid = Decimal(text.substr(0, colon), &out_of_range);
  if (!uid || *uid < 0 || *uid > kMaxId) return bad();
  UserSpec u;
  u.uid = static_cast<uint32_t>(*uid);
  if (colon == std::string::npos) return u;
  auto gid = Decimal(text.substr(colon + 1), &out_of_range);
  if (!gid || *gid < 0 || *gid > kMaxId) return bad();
  u.gid = static_cast<uint32_t>(*gid);
  return u;
}

}  // namespace kata::cli
