// Internal: typed reads of JSON object members with errors naming the field
// by its path ("process.user.uid must be an integer in [0, 4294967295]").
// Absent and null members leave the output untouched.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace kata::oci::internal {

using nlohmann::json;

inline std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}
inline std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

inline Status FieldError(const std::string& field, const std::string& what) {
  return Error(Code::kInvalidArgument, field + " " + what);
}

// nullptr when `key` is absent or null.
inline const json* Find(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Status ReadString(const json& obj, const char* key, const std::string& path, std::string* out);
Status ReadBool(const json& obj, const char* key, const std::string& path, bool* out);
Status ReadStrings(const json& obj, const char* key, const std::string& path,
                   std::vector<std::string>* out);
Status ReadStringMap(const json& obj, const char* key, const std::string& path,
                     std::map<std::string, std::string>* out);
// Checks that a present member is an object; *out = nullptr when absent.
Status ReadObject(const json& obj, const char* key, const std::string& path, const json** out);
// Checks that a present member is an array; *out = nullptr when absent.
Status ReadArray(const json& obj, const char* key, const std::string& path, const json** out);

// An integer member that must fit T (no floats, no strings).
template <typename T>
Status ReadInt(const json& obj, const char* key, const std::string& path, std::optional<T>* out) {
  const json* v = Find(obj, key);
  if (v == nullptr) return {};
  constexpr int64_t lo = static_cast<int64_t>(std::numeric_limits<T>::min());
  constexpr uint64_t hi = static_cast<uint64_t>(std::numeric_limits<T>::max());
  auto range_error = [&] {
    return FieldError(Join(path, key), "must be an integer in [" + std::to_string(lo) + ", " +
                                           std::to_string(hi) + "]");
  };
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > hi) return range_error();
    *out = static_cast<T>(u);
  } else if (v->is_number_integer()) {
    int64_t s = v->get<int64_t>();
    if (s < lo || (s > 0 && static_cast<uint64_t>(s) > hi)) return range_error();
    *out = static_cast<T>(s);
  } else {
    return range_error();
  }
  return {};
}

template <typename T>
Status ReadInt(const json& obj, const char* key, const std::string& path, T* out) {
  std::optional<T> v;
  RETURN_IF_ERROR(ReadInt(obj, key, path, &v));
  if (v) *out = *v;
  return {};
}

}  // namespace kata::oci::internal
