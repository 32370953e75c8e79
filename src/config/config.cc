#include "config/config.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <toml++/toml.h>

#include "common/log.h"
#include "common/fs.h"
#include "common/json_escape.h"
#include "config/kata_keys.h"
#include "config/toml_guard.h"

namespace kata::config {
namespace {

// How the value in the file looked, for error messages.
std::string Describe(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return JsonQuote(*n.value<std::string>());
    case toml::node_type::integer: return std::to_string(*n.value<int64_t>());
    case toml::node_type::floating_point: {
      std::ostringstream o;
      o << *n.value<double>();
      std::string f = o.str();
      if (f.find_first_of(".eni") == std::string::npos) f += ".0";  // 256.0, not 256.
      return "float " + f;
    }
    case toml::node_type::boolean: return *n.value<bool>() ? "true" : "false";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
  }
}

// Kata semantics: the host's usable cores (affinity, like Go's NumCPU).
int HostCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace

long long HostMemoryMib() {
  long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? static_cast<long long>(pages) * page_size / (1 << 20) : 0;
}

namespace {

using Reader = std::function<Status(const toml::node&, const std::string& key)>;
struct Field {
  const char* name;
  Reader read;
};

// Walks one file: typed readers that turn a bad value into
// "<file>: <key>: <reason>", and the unknown/ignored key bookkeeping.
class Parser {
 public:
  Parser(std::string source, std::vector<std::string>* warnings, std::vector<std::string>* ignored)
      : source_(std::move(source)), warnings_(warnings), ignored_(ignored) {}

  Status Bad(const std::string& key, const std::string& reason) const {
    return Error(Code::kInvalidArgument, source_ + ": " + key + ": " + reason);
  }
  void Warn(const std::string& what) { warnings_->push_back(source_ + ": " + what); }

  Reader Bool(bool* out) {
    return [this, out](const toml::node& n, const std::string& key) -> Status {
      if (!n.is_boolean()) return Bad(key, "must be true or false, got " + Describe(n));
      *out = *n.value<bool>();
      return Status::Ok();
    };
  }
  Reader Str(std::string* out) {
    return [this, out](const toml::node& n, const std::string& key) -> Status {
      if (!n.is_string()) return Bad(key, "must be a string, got " + Describe(n));
      *out = *n.value<std::string>();
      // A NUL would silently truncate the value when it reaches argv or open().
      if (out->find('\0') != std::string::npos) return Bad(key, "must not contain NUL");
      return Status::Ok();
    };
  }
  Reader Path(std::string* out) {
    return [this, out](const toml::node& n, const std::string& key) -> Status {
      RETURN_IF_ERROR(Str(out)(n, key));
      if (out->empty() || (*out)[0] != '/') return Bad(key, "must be an absolute path, got " + Describe(n));
      return Status::Ok();
    };
  }
  // Integer in [lo, hi]; `what` is the sentence used when it is not.
  Reader Int(int* out, int64_t lo, int64_t hi, const std::string& what) {
    return [this, out, lo, hi, what](const toml::node& n, const std::string& key) -> Status {
      if (!n.is_integer() || *n.value<int64_t>() < lo || *n.value<int64_t>() > hi)
        return Bad(key, "must be " + what + ", got " + Describe(n));
      *out = static_cast<int>(*n.value<int64_t>());
      return Status::Ok();
    };
  }
  Reader Positive(int* out) { return Int(out, 1, INT32_MAX, "a positive integer"); }
  Reader OneOf(std::string* out, std::vector<std::string> allowed) {
    return [this, out, allowed](const toml::node& n, const std::string& key) -> Status {
      RETURN_IF_ERROR(Str(out)(n, key));
      std::string list;
      for (const auto& a : allowed) {
        if (a == *out) return Status::Ok();
        list += (list.empty() ? "\"" : ", \"") + a + "\"";
      }
      return Bad(key, "must be one of " + list + ", got " + Describe(n));
    };
  }
  Reader StrList(std::vector<std::string>* out, bool paths) {
    return [this, out, paths](const toml::node& n, const std::string& key) -> Status {
      if (!n.is_array()) return Bad(key, "must be an array of strings, got " + Describe(n));
      out->clear();
      const toml::array& arr = *n.as_array();
      for (size_t i = 0; i < arr.size(); ++i) {
        std::string item;
        std::string item_key = key + "[" + std::to_string(i) + "]";
        RETURN_IF_ERROR(paths ? Path(&item)(arr[i], item_key) : Str(&item)(arr[i], item_key));
        if (item.empty()) return Bad(item_key, "must not be empty");
        out->push_back(item);
      }
      return Status::Ok();
    };
  }

  // Reads the known fields of one table; Kata-only keys are noted, others warn.
  Status Section(const toml::node& node, const std::string& table, const std::vector<Field>& fields) {
    if (!node.is_table()) return Bad(table, "must be a table, got " + Describe(node));
    for (auto&& [k, v] : *node.as_table()) {
      std::string key(k.str());
      std::string full = table + "." + key;
      auto it = std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return key == f.name; });
      if (it != fields.end()) {
        RETURN_IF_ERROR(it->read(v, full));
        seen_.push_back(full);
      } else if (IsKataOnlyKey(table, key)) {
        ignored_->push_back(full);
      } else {
        Warn("unknown key " + full + " ignored");
      }
    }
    return Status::Ok();
  }

  bool Seen(const std::string& full_key) const {
    return std::find(seen_.begin(), seen_.end(), full_key) != seen_.end();
  }
  std::vector<std::string>* ignored() { return ignored_; }

 private:
  std::string source_;
  std::vector<std::string>* warnings_;
  std::vector<std::string>* ignored_;
  std::vector<std::string> seen_;  // Full keys read from the file.
};

Status ParseQemu(Parser& p, const toml::node& node, QemuConfig& q) {
  auto shared_fs = [&p, &q](const toml::node& n, const std::string& key) -> Status {
    RETURN_IF_ERROR(p.Str(&q.shared_fs)(n, key));
    if (q.shared_fs == "virtio-9p" || q.shared_fs == "virtio-fs") return Status::Ok();
    return p.Bad(key, "must be \"virtio-fs\" or \"virtio-9p\" (virtio-fs-nydus and none are not supported here), got \"" +
                          q.shared_fs + "\"");
  };
  auto cache_size = [&p, &q](const toml::node& n, const std::string& key) -> Status {
    RETURN_IF_ERROR(p.Int(&q.virtio_fs_cache_size, 0, INT32_MAX, "a non-negative integer (MiB)")(n, key));
    if (q.virtio_fs_cache_size == 0) return Status::Ok();
    return p.Bad(key, "must be 0: Debian's QEMU 7.2 has no DAX window for virtio-fs (set it to 0 or remove it)");
  };
  auto machine = [&p, &q](const toml::node& n, const std::string& key) -> Status {
    RETURN_IF_ERROR(p.Str(&q.machine_type)(n, key));
    // It becomes "-machine <type>,...": a comma or space would inject options.
    bool ok = !q.machine_type.empty() &&
              q.machine_type.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") ==
                  std::string::npos;
    return ok ? Status::Ok()
              : p.Bad(key, "must be a QEMU machine type such as \"pc\" or \"q35\", got " + Describe(n));
  };
  return p.Section(
      node, "hypervisor.qemu",
      {
          {"path", p.Path(&q.path)},
          {"kernel", p.Path(&q.kernel)},
          {"initrd", p.Str(&q.initrd)},  // Checked below: may be "" when image is set.
          {"image", p.Str(&q.image)},
          {"machine_type", machine},
          {"kernel_params", p.Str(&q.kernel_params)},
          {"default_vcpus", p.Int(&q.default_vcpus, INT32_MIN, INT32_MAX, "an integer")},
          {"default_maxvcpus", p.Int(&q.default_maxvcpus, 0, INT32_MAX, "a non-negative integer")},
          {"default_memory", p.Positive(&q.default_memory)},
          {"default_maxmemory", p.Int(&q.default_maxmemory, 0, INT32_MAX, "a non-negative integer (MiB)")},
          {"shared_fs", shared_fs},
          {"virtio_fs_daemon", p.Path(&q.virtio_fs_daemon)},
          {"valid_virtio_fs_daemon_paths", p.StrList(&q.valid_virtio_fs_daemon_paths, true)},
          {"virtio_fs_cache", p.OneOf(&q.virtio_fs_cache, {"never", "auto", "always", "none"})},
          {"virtio_fs_cache_size", cache_size},
          {"virtio_fs_queue_size", p.Int(&q.virtio_fs_queue_size, 16, 1024, "a power of two from 16 to 1024")},
          {"virtio_fs_extra_args", p.StrList(&q.virtio_fs_extra_args, false)},
          {"accelerator", p.OneOf(&q.accelerator, {"auto", "kvm", "tcg"})},
          {"enable_debug", p.Bool(&q.enable_debug)},
          {"machine_accelerators", p.Str(&q.machine_accelerators)},
          {"cpu_features", p.Str(&q.cpu_features)},
          {"enable_annotations", p.StrList(&q.enable_annotations, false)},
          {"valid_hypervisor_paths", p.StrList(&q.valid_hypervisor_paths, true)},
          {"msize_9p", p.Int(&q.msize_9p, 4096, INT32_MAX, "an integer >= 4096")},
          {"pcie_root_port", p.Int(&q.pcie_root_port, 0, 16, "an integer from 0 to 16")},
          {"entropy_source", p.Path(&q.entropy_source)},
          {"tcg_tb_size_mib", p.Int(&q.tcg_tb_size_mib, 1, 4096, "an integer from 1 to 4096")},
          {"disable_vhost_net", p.Bool(&q.disable_vhost_net)},
          {"reclaim_guest_freed_memory", p.Bool(&q.reclaim_guest_freed_memory)},
      });
}

// virtiofsd runs as root: only a daemon the administrator listed may be
// named (Kata's valid_virtio_fs_daemon_paths); "none" is virtiofsd's word
// for Kata's "never".
Status ResolveVirtioFs(Parser& p, QemuConfig& q) {
  if (q.virtio_fs_cache == "none") q.virtio_fs_cache = "never";
  int qs = q.virtio_fs_queue_size;
  if ((qs & (qs - 1)) != 0)
    return p.Bad("hypervisor.qemu.virtio_fs_queue_size", "must be a power of two from 16 to 1024, got " + std::to_string(qs));
  if (q.shared_fs != "virtio-fs") return Status::Ok();
  const auto& valid = q.valid_virtio_fs_daemon_paths;
  if (std::find(valid.begin(), valid.end(), q.virtio_fs_daemon) == valid.end())
    return p.Bad("hypervisor.qemu.virtio_fs_daemon", JsonQuote(q.virtio_fs_daemon) +
                                                         " is not in valid_virtio_fs_daemon_paths; add it there or use " +
                                                         JsonQuote(valid.empty() ? "" : valid.front()));
  return Status::Ok();
}

// Checks across keys and Kata's defaulting rules; runs whether or not the file
// has a [hypervisor.qemu] table.
Status ResolveQemu(Parser& p, QemuConfig& q) {
  if (!q.image.empty()) {
    if (p.Seen("hypervisor.qemu.initrd") && !q.initrd.empty())
      return p.Bad("hypervisor.qemu.image", "set either image or initrd, not both (as in Kata)");
    return p.Bad("hypervisor.qemu.image",
                 "booting from a disk image is not supported yet; remove image and set initrd");
  }
  if (q.initrd.empty() || q.initrd[0] != '/')
    return p.Bad("hypervisor.qemu.initrd", "must be an absolute path, got " + JsonQuote(q.initrd));

  // Kata's vCPU resolution (katautils defaultVCPUs/defaultMaxVCPUs).
  int host = HostCores();
  int vcpus = q.default_vcpus, maxvcpus = q.default_maxvcpus;
  q.default_vcpus = (vcpus < 0 || vcpus > host) ? host : (vcpus == 0 ? 1 : vcpus);
  q.default_maxvcpus = (maxvcpus == 0 || maxvcpus > host) ? host : maxvcpus;
  if (q.default_maxvcpus < q.default_vcpus)
    return p.Bad("hypervisor.qemu.default_maxvcpus",
                 "must be 0 or >= default_vcpus (" + std::to_string(q.default_vcpus) + "), got " +
                     std::to_string(maxvcpus));

  // Kata reads 0 as "the host's memory"; here 0 is a fixed headroom: a
  // guest that adds it all itself can take no more than this.
  int maxmemory = q.default_maxmemory;
  long long host_mib = HostMemoryMib();
  if (maxmemory == 0) maxmemory = std::max(q.default_memory, kDefaultMaxMemoryMib);
  else if (maxmemory < q.default_memory)
    return p.Bad("hypervisor.qemu.default_maxmemory",
                 "must be 0 or >= default_memory (" + std::to_string(q.default_memory) + "), got " +
                     std::to_string(maxmemory));
  if (host_mib > 0 && maxmemory > host_mib) maxmemory = static_cast<int>(std::max<long long>(host_mib, q.default_memory));
  q.default_maxmemory = maxmemory;
  return ResolveVirtioFs(p, q);
}

// A template's clones map its RAM privately (copy-on-write), and vhost-user
// needs it shared with virtiofsd; a cached VM would need its virtiofsd handed
// over with it, which the cache does not do. Both keep 9p.
Status CheckFactoryWithSharedFs(Parser& p, const Config& c) {
  if (c.qemu.shared_fs != "virtio-fs") return Status::Ok();
  std::string why = " needs hypervisor.qemu.shared_fs = \"virtio-9p\" (virtio-fs is the default): ";
  if (c.factory.enable_template)
    return p.Bad("factory.enable_template", "VM templating" + why +
                                                "a clone's RAM is a private copy of the template's, and virtiofsd must share it");
  if (c.factory.vm_cache_number > 0)
    return p.Bad("factory.vm_cache_number", "the VM cache" + why + "a cached VM's virtiofsd cannot be handed over with it");
  return Status::Ok();
}

Status ParseHypervisors(Parser& p, const toml::node& node, QemuConfig& q) {
  if (!node.is_table()) return p.Bad("hypervisor", "must be a table, got " + Describe(node));
  const toml::table& t = *node.as_table();
  bool has_qemu = t.contains("qemu");
  for (auto&& [k, v] : t) {
    std::string name(k.str());
    if (name == "qemu") {
      RETURN_IF_ERROR(ParseQemu(p, v, q));
    } else if (!has_qemu) {
      // A configuration-clh.toml or similar: starting QEMU instead would surprise.
      return p.Bad("hypervisor." + name,
                   "only the QEMU hypervisor ([hypervisor.qemu]) is supported by this runtime");
    } else {
      p.Warn("[hypervisor." + name + "] ignored: only [hypervisor.qemu] is supported");
    }
  }
  return Status::Ok();
}

Status ParseRuntime(Parser& p, const toml::node& v, RuntimeConfig& r) {
  RETURN_IF_ERROR(p.Section(
      v, "runtime",
      {
          {"enable_debug", p.Bool(&r.enable_debug)},
          {"internetworking_model", p.OneOf(&r.internetworking_model, {"tcfilter", "none"})},
          {"disable_new_netns", p.Bool(&r.disable_new_netns)},
          {"sandbox_cgroup_only", p.Bool(&r.sandbox_cgroup_only)},
          {"create_container_timeout", p.Positive(&r.create_container_timeout)},
          {"experimental", p.StrList(&r.experimental, false)},
          {"disable_guest_seccomp", p.Bool(&r.disable_guest_seccomp)},
          {"rootfs_writes_in_guest", p.Bool(&r.rootfs_writes_in_guest)},
          {"rootfs_image_in_guest", p.Bool(&r.rootfs_image_in_guest)},
          {"rootfs_image_cache_dir", p.Path(&r.rootfs_image_cache_dir)},
          {"rootfs_image_cache_mb", p.Int(&r.rootfs_image_cache_mb, 64, 1 << 24, "an integer from 64 to 16777216")},
      }));
  // The image's layers are read-only in the guest: its writes need the guest's upper layer.
  if (r.rootfs_image_in_guest && !r.rootfs_writes_in_guest) {
    return p.Bad("runtime.rootfs_image_in_guest",
                 "requires rootfs_writes_in_guest = true (the image disk is read-only; the container's writes go to "
                 "guest memory)");
  }
  // Kata's rule: without a new netns there is nothing to connect with tc.
  if (r.disable_new_netns && r.internetworking_model != "none") {
    return p.Bad("runtime.disable_new_netns",
                 "requires internetworking_model = \"none\", got \"" + r.internetworking_model + "\"");
  }
  return Status::Ok();
}

Status ParseRoot(Parser& p, const toml::table& root, Config& c) {
  for (auto&& [k, v] : root) {
    std::string name(k.str());
    if (name == "hypervisor") {
      RETURN_IF_ERROR(ParseHypervisors(p, v, c.qemu));
    } else if (name == "agent") {
      if (!v.is_table()) return p.Bad("agent", "must be a table, got " + Describe(v));
      for (auto&& [ak, av] : *v.as_table()) {
        std::string agent(ak.str());
        if (agent != "kata") {
          p.Warn("[agent." + agent + "] ignored: only [agent.kata] is supported");
          continue;
        }
        AgentConfig& a = c.agent;
        RETURN_IF_ERROR(p.Section(av, "agent.kata",
                                  {
                                      {"enable_debug", p.Bool(&a.enable_debug)},
                                      {"kernel_modules", p.StrList(&a.kernel_modules, false)},
                                      {"dial_timeout", p.Positive(&a.dial_timeout)},
                                      {"debug_console_enabled", p.Bool(&a.debug_console_enabled)},
                                  }));
      }
    } else if (name == "runtime") {
      RETURN_IF_ERROR(ParseRuntime(p, v, c.runtime));
    } else if (name == "factory") {
      FactoryConfig& f = c.factory;
      RETURN_IF_ERROR(p.Section(v, "factory",
                                {
                                    {"enable_template", p.Bool(&f.enable_template)},
                                    {"template_path", p.Path(&f.template_path)},
                                    {"vm_cache_number", p.Int(&f.vm_cache_number, 0, 64, "an integer from 0 to 64")},
                                    {"vm_cache_endpoint", p.Path(&f.vm_cache_endpoint)},
                                }));
    } else if (IsKataOnlyTable(name)) {
      p.ignored()->push_back(name);
    } else {
      p.Warn((v.is_table() ? "unknown table [" + name + "]" : "unknown key " + name) + " ignored");
    }
  }
  return Status::Ok();
}

// A configuration file may be a symlink (e.g. to a distribution default).
bool Exists(const std::string& path) { return fs::Exists(path, true); }

}  // namespace

Result<Config> ParseToml(const std::string& text, const std::string& source_name,
                         std::vector<std::string>* warnings, std::vector<std::string>* ignored) {
  RETURN_IF_ERROR(CheckNonAscii(text, source_name));
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    return TomlParseError(e, source_name);
  }
  std::vector<std::string> w, ig;
  Config config;
  Parser parser(source_name, &w, &ig);
  RETURN_IF_ERROR(ParseRoot(parser, root, config));
  RETURN_IF_ERROR(ResolveQemu(parser, config.qemu));
  RETURN_IF_ERROR(CheckFactoryWithSharedFs(parser, config));
  for (const auto& msg : w) log::Warn(msg);
  if (!ig.empty()) {
    std::string list;
    for (const auto& k : ig) list += (list.empty() ? "" : ", ") + k;
    log::Debug(source_name + ": Kata settings not implemented by this runtime, ignored: " + list);
  }
  if (warnings) warnings->insert(warnings->end(), w.begin(), w.end());
  if (ignored) ignored->insert(ignored->end(), ig.begin(), ig.end());
  return config;
}

std::vector<std::string> DefaultPaths() {
  return {"/etc/kata-containers/configuration.toml",
          "/usr/share/defaults/kata-containers/configuration.toml"};
}

Result<LoadedConfig> LoadWithDefaults(const std::string& explicit_path,
                                      const std::vector<std::string>& default_paths) {
  std::string path;
  // A path the operator named must exist: falling back to another file would
  // run containers with settings they did not ask for.
  if (!explicit_path.empty()) {
    if (!Exists(explicit_path)) return ErrnoError("configuration file " + explicit_path + " (--config)");
    path = explicit_path;
  } else if (const char* env = std::getenv("KATA_CONF_FILE"); env && *env) {
    if (!Exists(env)) return ErrnoError(std::string("configuration file ") + env + " (KATA_CONF_FILE)");
    path = env;
  } else {
    for (const auto& p : default_paths) {
      if (Exists(p)) {
        path = p;
        break;
      }
    }
    if (path.empty()) {
      std::string tried;
      for (const auto& p : default_paths) tried += (tried.empty() ? "" : ", ") + p;
      return Error(Code::kNotFound, "no configuration file found (tried " + tried +
                                        "); install one or set KATA_CONF_FILE or --config");
    }
  }
  ASSIGN_OR_RETURN(std::string text, fs::ReadFile(path));
  LoadedConfig loaded;
  loaded.path = path;
  ASSIGN_OR_RETURN(loaded.config, ParseToml(text, path, &loaded.warnings, &loaded.ignored));
  return loaded;
}

Result<LoadedConfig> Load(const std::string& explicit_path) {
  return LoadWithDefaults(explicit_path, DefaultPaths());
}

}  // namespace kata::config
