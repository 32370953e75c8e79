// Failure logs outlive their sandbox (the run directory with qemu.log and
// console.log goes with it): a copy is kept in /var/log/kata-containers and
// named in the error. Bounded, because a guest can fail on purpose, again
// and again: each copy is cut to its last bytes and only the newest stay.
#pragma once

#include <cstddef>
#include <string>

namespace kata::sandbox {

struct KeptLogLimits {
  size_t max_bytes = 256 * 1024;  // per copy: its tail
  size_t max_count = 64;          // copies in the directory, newest kept
};

// Writes the tail of `text` as `dir`/`name` (mode 0600), then prunes `dir`
// to the newest limits.max_count regular files. The copy's path, or "" if it
// could not be kept.
std::string KeepFailureLog(const std::string& dir, const std::string& name, const std::string& text,
                           KeptLogLimits limits = {});

// Removes all but the newest `keep` regular files of `dir` (by mtime).
void PruneKeptLogs(const std::string& dir, size_t keep);

}  // namespace kata::sandbox
