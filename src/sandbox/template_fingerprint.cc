#include "sandbox/template_fingerprint.h"

#include <sys/stat.h>

#include <map>
#include <sstream>
#include <vector>

namespace kata::sandbox {
namespace {

// Bumped when the runtime changes what it gives QEMU (devices, options):
// templates made by an older runtime then no longer match.
constexpr const char* kFormat = "1";

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

std::string TemplateFingerprint(const vmm::VmSpec& spec,
                                const std::function<std::string(const std::string&)>& file_identity) {
  // Values are single lines: a newline in one would forge the next key.
  auto one_line = [](std::string v) {
    for (char& c : v)
      if (c == '\n' || c == '\r') c = ' ';
    return v;
  };
  std::string out;
  auto add = [&](const std::string& key, const std::string& value) { out += key + "=" + one_line(value) + "\n"; };
  add("format", std::string(kFormat) + " runtime " + KATA_VERSION);
  add("vmm", spec.binary);
  add("vmm_file", file_identity(spec.binary));
  add("kernel", spec.kernel);
  add("kernel_file", file_identity(spec.kernel));
  add("initrd", spec.initrd);
  add("initrd_file", file_identity(spec.initrd));
  add("kernel_params", spec.kernel_params);
  add("machine_type", spec.machine_type);
  add("machine_accelerators", spec.extra_machine_accelerators);
  add("accel", spec.accel);
  add("vcpus", std::to_string(spec.vcpus));
  add("memory_mib", std::to_string(spec.memory_mib));
  return out;
}

std::string FingerprintMismatch(const std::string& stored, const std::string& current) {
  auto was = ParseLines(stored);
  auto now = ParseLines(current);
  std::map<std::string, std::string> was_map(was.begin(), was.end());
  for (const auto& [key, value] : now) {
    auto it = was_map.find(key);
    if (it == was_map.end()) return key + " is not recorded in the template";
    if (it->second != value) return key + " changed (template: " + it->second + ", now: " + value + ")";
  }
  if (was.size() != now.size()) return "the template records other settings than this runtime uses";
  return "";
}

}  // namespace kata::sandbox
