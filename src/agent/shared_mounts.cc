#include "agent/shared_mounts.h"

#include <sstream>

namespace kata::agent {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
bool Octal(char c) { return c >= '0' && c <= '7'; }

std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] <= '3' && Octal(s[i + 1]) && Octal(s[i + 2]) && Octal(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct MountLine {
  std::string dev, root, mount_point, fstype, source;
};

bool ParseLine(const std::string& line, MountLine* m) {
  std::istringstream f(line);
  std::string id, parent, root, mount_point, field;
  if (!(f >> id >> parent >> m->dev >> root >> mount_point)) return false;
  while (f >> field && field != "-") {
  }
  if (field != "-" || !(f >> m->fstype >> m->source)) return false;
  m->root = Unescape(root);
  m->mount_point = Unescape(mount_point);
  return true;
}

std::string Relative(const std::string& path) {
  size_t i = 0;
  while (i < path.size() && path[i] == '/') i++;
  return path.substr(i);
}

std::string Join(const std::string& a, const std::string& b) { return a.empty() || b.empty() ? a + b : a + "/" + b; }

}  // namespace

ShareDevices ShareDevicesIn(const std::string& agent_mountinfo, const std::string& shared_mount) {
  ShareDevices out;
  std::istringstream lines(agent_mountinfo);
  std::string prefix = shared_mount + "/";
  for (std::string line; std::getline(lines, line);) {
    MountLine m;
    if (!ParseLine(line, &m) || (m.fstype != "9p" && m.fstype != "virtiofs")) continue;
    if (m.mount_point != shared_mount && m.mount_point.compare(0, prefix.size(), prefix) != 0) continue;
    std::string at = m.mount_point == shared_mount ? "" : m.mount_point.substr(prefix.size());
    out[m.dev] = Join(at, Relative(m.root));
  }
  return out;
}

std::vector<SharedMount> SharedMountsIn(const std::string& mountinfo, const std::vector<std::string>& volumes,
                                        const ShareDevices& share) {
  std::vector<SharedMount> out;
  std::istringstream lines(mountinfo);
  for (std::string line; std::getline(lines, line) && out.size() < kMaxSharedMounts;) {
    MountLine m;
    if (!ParseLine(line, &m)) continue;
    auto in_share = share.find(m.dev);
    if (in_share == share.end()) continue;
    for (const std::string& v : volumes) {
      std::string prefix = v == "/" ? "/" : v + "/";
      if (m.mount_point.size() <= prefix.size() || m.mount_point.compare(0, prefix.size(), prefix) != 0) continue;
      out.push_back({v, m.mount_point.substr(prefix.size()), Join(in_share->second, Relative(m.root))});
      break;
    }
  }
  return out;
}

}  // namespace kata::agent
