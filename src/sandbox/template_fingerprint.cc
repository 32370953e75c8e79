#include "sandbox/template_fingerprint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <sstream>
#include <vector>

#include "common/sha256.h"
#include "common/unique_fd.h"

namespace kata::sandbox {
namespace {

// Bumped when the runtime changes what it gives QEMU (devices, options):
// templates made by an older runtime then no longer match.
constexpr const char* kFormat = "4";
constexpr const char* kFileSuffix = "_file";
constexpr const char* kHashSuffix = "_sha256";

std::vector<std::pair<std::string, std::string>> ParseLines(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    out.emplace_back(line.substr(0, eq), line.substr(eq + 1));
  }
  return out;
}

}  // namespace

std::string FileIdentity(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return "missing";
  return "size " + std::to_string(st.st_size) + " mtime " +
         std::to_string(static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec) + " inode " +
         std::to_string(st.st_ino);
}

std::string FileSha256(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return "unreadable";
  Sha256 h;
  std::string buf(1 << 20, '\0');
  ssize_t n;
  while ((n = read(fd.get(), buf.data(), buf.size())) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) h.Update(buf.data(), static_cast<size_t>(n));
  }
  return n < 0 ? "unreadable" : h.Hex();
}

std::string TemplateFingerprint(const vmm::VmSpec& spec, const FileFn& file_identity, const FileFn& content_hash) {
  // Values are single lines: a newline in one would forge the next key.
  auto one_line = [](std::string v) {
    for (char& c : v)
      if (c == '\n' || c == '\r') c = ' ';
    return v;
  };
  std::string out;
  auto add = [&](const std::string& key, const std::string& value) { out += key + "=" + one_line(value) + "\n"; };
  add("format", std::string(kFormat) + " runtime " + KATA_VERSION);
  for (const auto& [key, path] : {std::pair{"vmm", spec.binary}, {"kernel", spec.kernel}, {"initrd", spec.initrd}}) {
    add(key, path);
    add(std::string(key) + kFileSuffix, file_identity(path));
    if (content_hash) add(std::string(key) + kHashSuffix, content_hash(path));
  }
  add("kernel_params", spec.kernel_params);
  add("machine_type", spec.machine_type);
  add("machine_accelerators", spec.extra_machine_accelerators);
  add("accel", spec.accel);
  add("vcpus", std::to_string(spec.vcpus));
  add("max_vcpus", std::to_string(spec.max_vcpus));
  add("memory_mib", std::to_string(spec.memory_mib));
  add("max_memory_mib", std::to_string(spec.max_memory_mib));
  add("hotplug_slots", std::to_string(spec.hotplug_slots));
  return out;
}

FingerprintCheck CompareFingerprint(const std::string& stored, const std::string& current,
                                    const FileFn& content_hash) {
  auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  auto was = ParseLines(stored);
  auto now = ParseLines(current);
  std::map<std::string, std::string> was_map(was.begin(), was.end());
  std::map<std::string, std::string> now_map(now.begin(), now.end());
  FingerprintCheck c;
  std::map<std::string, std::string> new_identities;
  for (const auto& [key, value] : now) {
    auto it = was_map.find(key);
    if (it == was_map.end()) {
      c.reason = key + " is not recorded in the template";
      return c;
    }
    if (it->second == value) continue;
    if (ends_with(key, kFileSuffix) && content_hash) {
      std::string base = key.substr(0, key.size() - std::string(kFileSuffix).size());
      auto recorded = was_map.find(base + kHashSuffix);
      if (recorded != was_map.end() && content_hash(now_map[base]) == recorded->second) {
        new_identities[key] = value;
        continue;
      }
      c.reason = base + " " + now_map[base] + " changed since the template was made";
      return c;
    }
    c.reason = key + " changed (template: " + it->second + ", now: " + value + ")";
    return c;
  }
  size_t hashes = 0;
  for (const auto& [key, value] : was)
    if (ends_with(key, kHashSuffix)) hashes++;
  if (was.size() - hashes != now.size()) {
    c.reason = "the template records other settings than this runtime uses";
    return c;
  }
  c.match = true;
  if (!new_identities.empty()) {
    for (auto& [key, value] : was)
      if (auto it = new_identities.find(key); it != new_identities.end()) value = it->second;
    for (const auto& [key, value] : was) c.refreshed += key + "=" + value + "\n";
  }
  return c;
}

}  // namespace kata::sandbox
