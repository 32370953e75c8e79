#include "sandbox/direct_volume.h"

#include <nettle/base64.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/fs_at.h"
#include "common/log.h"

namespace kata::sandbox {
namespace {

constexpr const char* kMountInfoFile = "mountInfo.json";

// The path as one file name: base64 with the URL alphabet (no '/').
std::string Base64Url(const std::string& s) {
  std::string out(BASE64_ENCODE_LENGTH(s.size()) + BASE64_ENCODE_FINAL_LENGTH, '\0');
  base64_encode_ctx ctx;
  base64url_encode_init(&ctx);
  size_t n = base64_encode_update(&ctx, out.data(), s.size(), reinterpret_cast<const uint8_t*>(s.data()));
  n += base64_encode_final(&ctx, out.data() + n);
  out.resize(n);
  return out;
}

Result<DirectVolume> Parse(const std::string& text, const std::string& what) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return Error(Code::kInvalidArgument, what + ": not a JSON object");
  DirectVolume v;
  try {
    v.volume_type = j.value("volume_type", std::string("block"));
    v.device = j.value("device", std::string());
    v.fs_type = j.value("fs_type", std::string());
    if (j.contains("metadata") && j["metadata"].is_object()) v.metadata = j["metadata"].get<std::map<std::string, std::string>>();
    if (j.contains("options") && j["options"].is_array()) v.options = j["options"].get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    return Error(Code::kInvalidArgument, what + ": " + e.what());
  }
  return v;
}

Status Check(const DirectVolume& v) {
  struct stat st;
  if (v.device.empty() || v.device[0] != '/') {
    return Error(Code::kInvalidArgument, "mount info: \"device\" must be the absolute path of a block device or disk image");
  }
  if (v.device.find(',') != std::string::npos) return Error(Code::kInvalidArgument, "mount info: \"device\" must not contain a comma");
  if (stat(v.device.c_str(), &st) != 0) return ErrnoError("mount info: device " + v.device);
  if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
    return Error(Code::kInvalidArgument, "mount info: device " + v.device + " is neither a block device nor a disk image file");
  }
  if (v.fs_type != "ext4" && v.fs_type != "xfs") {
    return Error(Code::kInvalidArgument, "mount info: \"fs_type\" must be \"ext4\" or \"xfs\", got \"" + v.fs_type + "\"");
  }
  return Status::Ok();
}

}  // namespace

std::string DirectVolumeDir(const std::string& volume_path, const std::string& root) {
  return root + "/" + Base64Url(volume_path);
}

Status AddDirectVolume(const std::string& volume_path, const std::string& mount_info_json, const std::string& root) {
  if (volume_path.empty() || volume_path[0] != '/') {
    return Error(Code::kInvalidArgument, "--volume-path must be an absolute path, got \"" + volume_path + "\"");
  }
  ASSIGN_OR_RETURN(DirectVolume v, Parse(mount_info_json, "--mount-info"));
  RETURN_IF_ERROR(Check(v));
  std::string dir = DirectVolumeDir(volume_path, root);
  RETURN_IF_ERROR(fs::MkdirAll(dir, 0700));
  return fs::WriteFileAtomic(dir + "/" + kMountInfoFile, mount_info_json, 0600);
}

Status RemoveDirectVolume(const std::string& volume_path, const std::string& root) {
  std::string dir = DirectVolumeDir(volume_path, root);
  if (!fs::Exists(dir)) return Error(Code::kNotFound, "no direct volume is registered for " + volume_path);
  return fs::RemoveTreeNoFollow(dir);
}

Result<std::optional<DirectVolume>> FindDirectVolume(const std::string& volume_path, const std::string& root) {
  std::string file = DirectVolumeDir(volume_path, root) + "/" + kMountInfoFile;
  if (!fs::Exists(file)) return std::optional<DirectVolume>();
  ASSIGN_OR_RETURN(std::string text, fs::ReadFile(file));
  ASSIGN_OR_RETURN(DirectVolume v, Parse(text, file));
  RETURN_IF_ERROR(Check(v));
  return std::optional<DirectVolume>(v);
}

Status RecordVolumeUser(const std::string& volume_path, const std::string& sandbox_id, const std::string& endpoint,
                        const std::string& root) {
  if (sandbox_id.empty() || sandbox_id.find('/') != std::string::npos || sandbox_id == kMountInfoFile ||
      sandbox_id[0] == '.') {
    return Error(Code::kInvalidArgument, "sandbox id \"" + sandbox_id + "\" cannot name a direct volume's user");
  }
  return fs::WriteFileAtomic(DirectVolumeDir(volume_path, root) + "/" + sandbox_id, endpoint, 0600);
}

void ForgetVolumeUser(const std::string& volume_path, const std::string& sandbox_id, const std::string& root) {
  if (sandbox_id.empty() || sandbox_id.find('/') != std::string::npos || sandbox_id == kMountInfoFile) return;
  std::string file = DirectVolumeDir(volume_path, root) + "/" + sandbox_id;
  if (unlink(file.c_str()) != 0 && errno != ENOENT) log::Warn("forget direct volume user " + file + ": " + strerror(errno));
}

// The endpoints recorded for the volume's users (empty: nobody mounts it).
Result<std::vector<std::string>> VolumeUserEndpoints(const std::string& volume_path, const std::string& root) {
  std::string dir = DirectVolumeDir(volume_path, root);
  if (!fs::Exists(dir + "/" + kMountInfoFile)) {
    return Error(Code::kNotFound, "no direct volume is registered for " + volume_path);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs::ListDir(dir));
  std::vector<std::string> endpoints;
  for (const std::string& name : names) {
    if (name == kMountInfoFile || name[0] == '.') continue;
    auto text = fs::ReadFile(dir + "/" + name, 4096);
    if (text.ok() && !text->empty()) endpoints.push_back(*text);
  }
  return endpoints;
}

}  // namespace kata::sandbox
