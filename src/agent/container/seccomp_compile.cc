#include "agent/container/seccomp_compile.h"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "common/log.h"
#include "common/unique_fd.h"

namespace kata::agent {
namespace {

// Frees the libseccomp context on every path.
struct Ctx {
  scmp_filter_ctx ctx = nullptr;
  ~Ctx() {
    if (ctx != nullptr) seccomp_release(ctx);
  }
};

Status SysError(int rc, const std::string& what) {
  return Error(Code::kInvalidArgument, "seccomp: " + what + ": " + strerror(-rc));
}

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

Result<uint32_t> Action(const std::string& name, const nlohmann::json& errno_ret, const std::string& where) {
  uint32_t ret = EPERM;
  if (errno_ret.is_number_unsigned()) ret = errno_ret.get<uint32_t>();
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(ret);
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(ret);
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_NOTIFY") {
    return Error(Code::kUnimplemented, "seccomp " + where + ": SCMP_ACT_NOTIFY is not supported (no listener in the guest)");
  }
  return Error(Code::kInvalidArgument, "seccomp " + where + ": unknown action \"" + name + "\"");
}

Result<scmp_compare> Operator(const std::string& op) {
  if (op == "SCMP_CMP_NE") return SCMP_CMP_NE;
  if (op == "SCMP_CMP_LT") return SCMP_CMP_LT;
  if (op == "SCMP_CMP_LE") return SCMP_CMP_LE;
  if (op == "SCMP_CMP_EQ") return SCMP_CMP_EQ;
  if (op == "SCMP_CMP_GE") return SCMP_CMP_GE;
  if (op == "SCMP_CMP_GT") return SCMP_CMP_GT;
  if (op == "SCMP_CMP_MASKED_EQ") return SCMP_CMP_MASKED_EQ;
  return Error(Code::kInvalidArgument, "seccomp: unknown operator \"" + op + "\"");
}

// "SCMP_ARCH_X86_64" -> libseccomp's token; 0 when libseccomp does not know it.
uint32_t ArchToken(const std::string& name) {
  std::string n = name;
  if (n.rfind("SCMP_ARCH_", 0) == 0) n = n.substr(10);
  for (char& c : n) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return seccomp_arch_resolve_name(n.c_str());
}

Result<unsigned> Flags(const nlohmann::json& flags) {
  unsigned out = 0;
  if (!flags.is_array()) return out;
  for (const auto& f : flags) {
    std::string s = f.is_string() ? f.get<std::string>() : "";
    if (s == "SECCOMP_FILTER_FLAG_TSYNC") out |= SECCOMP_FILTER_FLAG_TSYNC;
    else if (s == "SECCOMP_FILTER_FLAG_LOG") out |= SECCOMP_FILTER_FLAG_LOG;
    else if (s == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") out |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    else return Error(Code::kInvalidArgument, "seccomp: unknown flag \"" + s + "\"");
  }
  return out;
}

// args[].index/value/valueTwo: an unsigned integer up to `max`, 0 when absent.
// (json::value() would throw on a string and convert a float out of range,
// which is undefined behaviour: found by tests/fuzz/fuzz_agent_create.)
Result<uint64_t> ArgNumber(const nlohmann::json& a, const char* key, uint64_t max) {
  auto it = a.find(key);
  if (it == a.end() || it->is_null()) return uint64_t{0};
  if (!it->is_number_unsigned() || it->get<uint64_t>() > max) {
    return Error(Code::kInvalidArgument, "seccomp: syscall argument " + std::string(key) + " " + it->dump() +
                                             " must be an integer from 0 to " + std::to_string(max));
  }
  return it->get<uint64_t>();
}

Result<std::vector<scmp_arg_cmp>> Conditions(const nlohmann::json& args) {
  std::vector<scmp_arg_cmp> out;
  if (!args.is_array()) return out;
  for (const auto& a : args) {
    if (!a.is_object()) return Error(Code::kInvalidArgument, "seccomp: syscall args must be objects");
    ASSIGN_OR_RETURN(uint64_t index, ArgNumber(a, "index", 5));
    ASSIGN_OR_RETURN(scmp_compare op, Operator(Str(a, "op")));
    scmp_arg_cmp c = {};
    c.arg = static_cast<unsigned>(index);
    c.op = op;
    ASSIGN_OR_RETURN(c.datum_a, ArgNumber(a, "value", UINT64_MAX));
    ASSIGN_OR_RETURN(c.datum_b, ArgNumber(a, "valueTwo", UINT64_MAX));
    out.push_back(c);
  }
  return out;
}

Status AddRule(scmp_filter_ctx ctx, uint32_t action, int nr, const std::vector<scmp_arg_cmp>& conds,
               const std::string& name) {
  std::set<unsigned> seen;
  bool repeated = false;
  for (const auto& c : conds) repeated |= !seen.insert(c.arg).second;
  if (!repeated) {
    int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(conds.size()), conds.data());
    if (rc != 0) return SysError(rc, "add rule for " + name);
    return {};
  }
  for (const auto& c : conds) {  // libseccomp cannot AND two tests of one argument
    int rc = seccomp_rule_add_array(ctx, action, nr, 1, &c);
    if (rc != 0) return SysError(rc, "add rule for " + name);
  }
  return {};
}

Result<std::vector<struct sock_filter>> Export(scmp_filter_ctx ctx) {
  UniqueFd fd(memfd_create("seccomp-bpf", MFD_CLOEXEC));
  if (!fd.valid()) return ErrnoError("seccomp: memfd_create");
  int rc = seccomp_export_bpf(ctx, fd.get());
  if (rc != 0) return SysError(rc, "export BPF");
  off_t size = lseek(fd.get(), 0, SEEK_END);
  std::vector<struct sock_filter> prog(static_cast<size_t>(size) / sizeof(struct sock_filter));
  ssize_t n = pread(fd.get(), prog.data(), prog.size() * sizeof(struct sock_filter), 0);
  if (size <= 0 || n != static_cast<ssize_t>(prog.size() * sizeof(struct sock_filter))) {
    return Error(Code::kInternal, "seccomp: exported BPF program is empty or short");
  }
  if (prog.size() > BPF_MAXINSNS) {
    return Error(Code::kInvalidArgument, "seccomp: filter has " + std::to_string(prog.size()) +
                                             " instructions, the kernel accepts " + std::to_string(BPF_MAXINSNS));
  }
  return prog;
}

}  // namespace

Result<SeccompProgram> CompileSeccomp(const nlohmann::json& sc) {
  SeccompProgram out;
  if (sc.is_null()) return out;
  if (!sc.is_object()) return Error(Code::kInvalidArgument, "linux.seccomp must be an object");
  ASSIGN_OR_RETURN(uint32_t def, Action(Str(sc, "defaultAction"), sc.value("defaultErrnoRet", nlohmann::json()),
                                        "defaultAction"));
  ASSIGN_OR_RETURN(out.flags, Flags(sc.value("flags", nlohmann::json())));
  Ctx c;
  c.ctx = seccomp_init(def);
  if (c.ctx == nullptr) return Error(Code::kInvalidArgument, "seccomp: cannot initialise a filter");
  // no_new_privs is the spec's process.noNewPrivileges, applied by the launcher.
  seccomp_attr_set(c.ctx, SCMP_FLTATR_CTL_NNP, 0);
  if (auto archs = sc.find("architectures"); archs != sc.end() && archs->is_array()) {
    for (const auto& a : *archs) {
      std::string name = a.is_string() ? a.get<std::string>() : "";
      uint32_t token = ArchToken(name);
      if (token == 0) {
        log::Warn("seccomp: architecture " + name + " is unknown to libseccomp, skipped");
        continue;
      }
      int rc = seccomp_arch_add(c.ctx, token);
      if (rc != 0 && rc != -EEXIST) return SysError(rc, "add architecture " + name);
    }
  }
  if (auto calls = sc.find("syscalls"); calls != sc.end() && calls->is_array()) {
    for (size_t i = 0; i < calls->size(); ++i) {
      const auto& s = (*calls)[i];
      std::string where = "syscalls[" + std::to_string(i) + "]";
      if (!s.is_object()) return Error(Code::kInvalidArgument, "seccomp " + where + " must be an object");
      ASSIGN_OR_RETURN(uint32_t action, Action(Str(s, "action"), s.value("errnoRet", nlohmann::json()), where));
      ASSIGN_OR_RETURN(std::vector<scmp_arg_cmp> conds, Conditions(s.value("args", nlohmann::json())));
      if (action == def) continue;  // libseccomp refuses rules that repeat the default
      auto names = s.find("names");
      if (names == s.end() || !names->is_array()) continue;
      for (const auto& n : *names) {
        std::string name = n.is_string() ? n.get<std::string>() : "";
        int nr = seccomp_syscall_resolve_name(name.c_str());
        if (nr == __NR_SCMP_ERROR) {
          log::Debug("seccomp: unknown syscall " + name + ", skipped");
          continue;
        }
        RETURN_IF_ERROR(AddRule(c.ctx, action, nr, conds, name));
      }
    }
  }
  ASSIGN_OR_RETURN(out.filter, Export(c.ctx));
  return out;
}

}  // namespace kata::agent
