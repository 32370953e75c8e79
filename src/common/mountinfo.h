// /proc/<pid>/mountinfo, one entry per line (proc(5)): the fields the
// runtime reads, unescaped (the kernel writes space, tab, newline and
// backslash in paths as \ooo).
#pragma once

#include <string>
#include <vector>

namespace kata {

struct MountInfo {
  std::string dev;            // major:minor of the file system
  std::string root;           // the mounted directory's path within its file system
  std::string mount_point;
  std::string fstype;
  std::string source;
  std::string super_options;  // the file system's own (e.g. overlay's lowerdir=...)
};

// Every well-formed line of `text`, in order (a later mount on the same
// point is above an earlier one); malformed lines are skipped.
std::vector<MountInfo> ParseMountInfo(const std::string& text);

}  // namespace kata
