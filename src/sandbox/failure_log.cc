#include "sandbox/failure_log.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "common/fs.h"

namespace kata::sandbox {

void PruneKeptLogs(const std::string& dir, size_t keep) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::pair<int64_t, std::string>> logs;  // (mtime ns, name)
  while (dirent* e = readdir(d)) {
    struct stat st;
    std::string path = dir + "/" + e->d_name;
    if (e->d_name[0] == '.' || lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    logs.emplace_back(static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, path);
  }
  closedir(d);
  if (logs.size() <= keep) return;
  std::sort(logs.begin(), logs.end());
  for (size_t i = 0; i + keep < logs.size(); i++) unlink(logs[i].second.c_str());
}

std::string KeepFailureLog(const std::string& dir, const std::string& name, const std::string& text,
                           KeptLogLimits limits) {
  std::string kept = dir + "/" + name;
  std::string tail = text.size() > limits.max_bytes ? text.substr(text.size() - limits.max_bytes) : text;
  if (!fs::MkdirAll(dir, 0700).ok() || !fs::WriteFileAtomic(kept, tail, 0600).ok()) return "";
  PruneKeptLogs(dir, limits.max_count);
  return kept;
}

}  // namespace kata::sandbox
