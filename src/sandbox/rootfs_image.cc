#include "sandbox/rootfs_image.h"

#include <climits>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/fs.h"
#include "common/log.h"
#include "common/mountinfo.h"
#include "common/strings.h"
#include "sandbox/rootfs_source.h"
#include "sandbox/rootfs_image_cache.h"

namespace kata::sandbox {
namespace {

// Overlay's own options as mountinfo shows them: lowerdir=a:b (or, made
// with the new mount API, one lowerdir+=a per layer) and upperdir=u.
Result<OverlayLayers> LayersFromOptions(const std::string& options) {
  // The kernel escapes ',', ':' and blanks in a layer path as \ooo; such a
  // path cannot be told apart from the separators reliably, so none is read.
  if (options.find('\\') != std::string::npos) {
    return Error(Code::kInvalidArgument, "a layer path has characters the kernel escaped");
  }
  OverlayLayers out;
  for (const std::string& opt : Split(options, ',')) {
    if (opt.rfind("lowerdir=", 0) == 0) {
      std::string list = opt.substr(9);
      if (list.find("::") != std::string::npos) return Error(Code::kInvalidArgument, "it has data-only layers");
      for (const std::string& l : Split(list, ':')) out.lowers.push_back(l);
    } else if (opt.rfind("lowerdir+=", 0) == 0) {
      out.lowers.push_back(opt.substr(10));
    } else if (opt.rfind("datadir+=", 0) == 0) {
      return Error(Code::kInvalidArgument, "it has data-only layers");
    } else if (opt.rfind("upperdir=", 0) == 0) {
      out.upper = opt.substr(9);
    }
  }
  if (out.lowers.empty()) return Error(Code::kInvalidArgument, "its overlay names no lower layer");
  if (out.upper.empty()) return Error(Code::kInvalidArgument, "its overlay has no upper directory (read-only)");
  for (const std::string& p : out.lowers) {
    if (p.empty() || p[0] != '/') return Error(Code::kInvalidArgument, "layer \"" + p + "\" is not an absolute path");
  }
  if (out.upper[0] != '/') return Error(Code::kInvalidArgument, "its upper directory is not an absolute path");
  return out;
}

}  // namespace

RootfsImageSettings RootfsImageSettingsFrom(const config::Config& cfg) {
  return {cfg.runtime.rootfs_image_in_guest, cfg.runtime.rootfs_image_cache_dir,
          static_cast<uint64_t>(cfg.runtime.rootfs_image_cache_mb) * 1024 * 1024};
}

Result<OverlayLayers> OverlayLayersAt(const std::string& rootfs, const std::string& mountinfo) {
  const MountInfo* top = nullptr;
  std::vector<MountInfo> mounts = ParseMountInfo(mountinfo);
  for (const MountInfo& m : mounts) {
    if (m.mount_point == rootfs) top = &m;  // the last one listed is the one on top
  }
  if (!top) return Error(Code::kNotFound, "nothing is mounted there");
  if (top->fstype != "overlay") return Error(Code::kInvalidArgument, "it is " + top->fstype + ", not an overlay");
  if (top->root != "/") return Error(Code::kInvalidArgument, "it is a bind of part of an overlay");
  return LayersFromOptions(top->super_options);
}

std::optional<RootfsImage> RootfsImageFor(const RootfsImageSettings& settings, const nlohmann::json& spec,
                                          const std::string& bundle, const std::string& mountinfo_path) {
  if (!settings.enabled || !spec.contains("root") || !spec["root"].is_object()) return std::nullopt;
  if (spec["root"].value("readonly", false)) return std::nullopt;  // no writes to keep: shared as it is
  std::string rootfs = HostRootfsPath(spec, bundle);
  auto fallback = [&](const std::string& why) -> std::optional<RootfsImage> {
    log::Info("rootfs " + rootfs + " is shared whole, not as an image (rootfs_image_in_guest): " + why);
    return std::nullopt;
  };
  char real[PATH_MAX];
  if (!realpath(rootfs.c_str(), real)) return fallback(std::string("cannot resolve it: ") + strerror(errno));
  auto text = fs::ReadFile(mountinfo_path);
  if (!text.ok()) return fallback(text.status().message());
  auto layers = OverlayLayersAt(real, *text);
  if (!layers.ok()) return fallback(layers.status().message());
  RootfsImageCache cache(settings.cache_dir, settings.cache_limit_bytes);
  auto image = cache.ImageOf(layers->lowers);
  if (!image.ok()) return fallback(image.status().message());
  return RootfsImage{*image, layers->upper};
}

}  // namespace kata::sandbox
