#include "shim/runtime_options.h"

#include "common/log.h"
#include "runtimeoptions.pb.h"

namespace kata::shim {

Result<std::optional<config::LoadedConfig>> ConfigFromRuntimeOptions(const wkt::Any& options) {
  // containerd writes the bare message name; accept it behind any URL prefix too.
  const std::string kType = "runtimeoptions.v1.Options";
  const std::string& url = options.type_url();
  bool ours = url == kType || (url.size() > kType.size() && url.compare(url.size() - kType.size() - 1, std::string::npos,
                                                                        "/" + kType) == 0);
  if (!ours) return std::optional<config::LoadedConfig>();
  runtimeoptions::v1::Options opts;
  if (!opts.ParseFromString(options.value())) {
    return Error(Code::kInvalidArgument, "runtime options (" + url + ") do not parse");
  }
  if (opts.config_path().empty()) return std::optional<config::LoadedConfig>();
  auto loaded = config::Load(opts.config_path());
  if (!loaded.ok()) return loaded.status().Wrap("runtime options ConfigPath");
  log::Info("configuration " + loaded->path + " (containerd's runtime options ConfigPath)");
  return std::optional<config::LoadedConfig>(std::move(*loaded));
}

}  // namespace kata::shim
