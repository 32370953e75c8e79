// Request metadata: ordered (key, value) pairs; keys may repeat, as in ttrpc.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace kata::ttrpc {

using Metadata = std::vector<std::pair<std::string, std::string>>;

}  // namespace kata::ttrpc
