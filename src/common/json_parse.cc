#include "common/json_parse.h"

namespace kata {
namespace {

// Thrown from the parser callback: the only way to stop nlohmann's parser
// early (a callback returning false only drops the value and parses on).
struct TooDeep {};

}  // namespace

Result<nlohmann::json> ParseJsonBounded(std::string_view text, const std::string& what, int max_depth) {
  // `depth` is the number of enclosing arrays/objects of the one starting.
  auto bound = [max_depth](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    bool opens = event == nlohmann::json::parse_event_t::object_start ||
                 event == nlohmann::json::parse_event_t::array_start;
    if (opens && depth >= max_depth) throw TooDeep{};
    return true;
  };
  try {
    return nlohmann::json::parse(text, bound);
  } catch (const TooDeep&) {
    return Error(Code::kInvalidArgument,
                 what + ": JSON nested deeper than " + std::to_string(max_depth) + " levels");
  } catch (const nlohmann::json::exception& e) {
    return Error(Code::kInvalidArgument, what + ": invalid JSON: " + e.what());
  }
}

}  // namespace kata
