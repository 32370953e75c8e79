#include "common/mountinfo.h"

#include <sstream>

namespace kata {
namespace {

bool Octal(char c) { return c >= '0' && c <= '7'; }

// "\040" -> " ": mountinfo's escape of space, tab, newline and backslash in a path.
std::string UnescapeMountPath(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] <= '3' && Octal(s[i + 1]) && Octal(s[i + 2]) &&
        Octal(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool ParseLine(const std::string& line, MountInfo* m) {
  std::istringstream f(line);
  std::string id, parent, root, mount_point, field;
  if (!(f >> id >> parent >> m->dev >> root >> mount_point)) return false;
  while (f >> field && field != "-") {
  }
  std::string source, options;
  if (field != "-" || !(f >> m->fstype >> source)) return false;
  f >> options;  // absent on a few pseudo file systems
  m->root = UnescapeMountPath(root);
  m->mount_point = UnescapeMountPath(mount_point);
  m->source = UnescapeMountPath(source);
  m->super_options = options;
  return true;
}

}  // namespace

std::vector<MountInfo> ParseMountInfo(const std::string& text) {
  std::vector<MountInfo> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    MountInfo m;
    if (ParseLine(line, &m)) out.push_back(std::move(m));
  }
  return out;
}

}  // namespace kata
