#include "oci/json_fields.h"

namespace kata::oci::internal {

Status ReadString(const json& obj, const char* key, const std::string& path, std::string* out) {
  const json* v = Find(obj, key);
  if (v == nullptr) return {};
  if (!v->is_string()) return FieldError(Join(path, key), "must be a string");
  *out = v->get<std::string>();
  return {};
}

Status ReadBool(const json& obj, const char* key, const std::string& path, bool* out) {
  const json* v = Find(obj, key);
  if (v == nullptr) return {};
  if (!v->is_boolean()) return FieldError(Join(path, key), "must be a boolean");
  *out = v->get<bool>();
  return {};
}

Status ReadStrings(const json& obj, const char* key, const std::string& path,
                   std::vector<std::string>* out) {
  const json* v = Find(obj, key);
  if (v == nullptr) return {};
  if (!v->is_array()) return FieldError(Join(path, key), "must be an array of strings");
  std::vector<std::string> result;
  result.reserve(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string()) return FieldError(Index(Join(path, key), i), "must be a string");
    result.push_back((*v)[i].get<std::string>());
  }
  *out = std::move(result);
  return {};
}

Status ReadStringMap(const json& obj, const char* key, const std::string& path,
                     std::map<std::string, std::string>* out) {
  const json* v = Find(obj, key);
  if (v == nullptr) return {};
  if (!v->is_object()) return FieldError(Join(path, key), "must be an object of strings");
  std::map<std::string, std::string> result;
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it.value().is_string()) {
      return FieldError(Join(path, key) + "[\"" + it.key() + "\"]", "must be a string");
    }
    result[it.key()] = it.value().get<std::string>();
  }
  *out = std::move(result);
  return {};
}

Status ReadObject(const json& obj, const char* key, const std::string& path, const json** out) {
  *out = Find(obj, key);
  if (*out != nullptr && !(*out)->is_object()) return FieldError(Join(path, key), "must be an object");
  return {};
}

Status ReadArray(const json& obj, const char* key, const std::string& path, const json** out) {
  *out = Find(obj, key);
  if (*out != nullptr && !(*out)->is_array()) return FieldError(Join(path, key), "must be an array");
  return {};
}

}  // namespace kata::oci::internal
