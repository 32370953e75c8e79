// runc's signal syntax: "9", "KILL", "SIGKILL", "sigkill".
#pragma once

#include <string>

#include "common/status.h"

namespace kata::cli {
Result<int> ParseSignal(const std::string& text);
}
