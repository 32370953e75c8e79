// What the commands share (commands.h); in the library rather than main.cc
// so the commands link without main() (unit tests).
#include "cli/commands.h"

#include <cstdio>

#include "common/log.h"

namespace kata::cli {

void ReportError(const GlobalOptions& g, const std::string& msg) {
  log::Error(msg);
  if (!g.log.empty()) std::fprintf(stderr, "%s\n", msg.c_str());
}

}  // namespace kata::cli
