#include "agent/container/device_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "agent/container/default_devices.h"
#include "common/unique_fd.h"

namespace kata::agent {
namespace {

using json = nlohmann::json;

// ---- rules

// One place builds the messages: every check below would otherwise inline
// its own string concatenation (the agent binary has a size budget).
Status BadRule(size_t index, const char* field, const std::string& what) {
  return Error(Code::kInvalidArgument, "linux.resources.devices[" + std::to_string(index) + "]" + field + ": " + what);
}

Result<int64_t> RuleNumber(const json& rule, const char* key, size_t index) {
  auto it = rule.find(key);
  if (it == rule.end() || it->is_null()) return int64_t{-1};
  // An unsigned 2^64-1 read as int64_t is -1, "any": a rule for one device
  // would cover every one (found by tests/fuzz/fuzz_agent_create).
  bool big = it->is_number_unsigned() && it->get<uint64_t>() > INT32_MAX;
  if (!it->is_number_integer() || big || it->get<int64_t>() < -1 || it->get<int64_t>() > INT32_MAX) {
    return BadRule(index, key[1] == 'a' ? ".major" : ".minor", "not a device number (an integer, or -1/absent for any)");
  }
  return it->get<int64_t>();
}

Result<unsigned> RuleAccess(const json& rule, size_t index) {
  auto it = rule.find("access");
  // Absent: the whole device (what every client writes anyway: "rwm").
  if (it == rule.end() || it->is_null()) return kDevAccessAll;
  if (!it->is_string()) return BadRule(index, ".access", "not a string");
  unsigned access = 0;
  for (char c : it->get_ref<const std::string&>()) {
    unsigned bit = c == 'r' ? kDevAccessRead : c == 'w' ? kDevAccessWrite : c == 'm' ? kDevAccessMknod : 0;
    if (bit == 0) return BadRule(index, ".access", "\"" + it->get<std::string>() + "\" (letters r, w and m only)");
    access |= bit;
  }
  return access;
}

bool CoversEverything(const DeviceRule& r) {
  return r.type == 'a' && r.major == -1 && r.minor == -1 && r.access == kDevAccessAll;
}

// ---- BPF instructions

bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}
bpf_insn LoadCtxWord(uint8_t dst, int16_t off) { return Insn(BPF_LDX | BPF_MEM | BPF_W, dst, BPF_REG_1, off, 0); }
bpf_insn Alu32Imm(uint8_t op, uint8_t dst, int32_t imm) { return Insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm); }
bpf_insn Mov32Reg(uint8_t dst, uint8_t src) { return Insn(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0); }
bpf_insn Return(int32_t verdict) { return Insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, verdict); }
bpf_insn Exit() { return Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }
// Jumps whose target (the next rule's block) is patched in by AppendRule.
bpf_insn SkipIfNotImm(uint8_t reg, int32_t imm) { return Insn(BPF_JMP | BPF_JNE | BPF_K, reg, 0, 0, imm); }
bpf_insn SkipIfNotReg(uint8_t reg, uint8_t other) { return Insn(BPF_JMP | BPF_JNE | BPF_X, reg, other, 0, 0); }

// Registers after the prologue.
constexpr uint8_t kType = BPF_REG_2, kAccess = BPF_REG_3, kMajor = BPF_REG_4, kMinor = BPF_REG_5;

// "if the request matches `r`, return its verdict"; every test that fails
// jumps past the block, to the next rule.
void AppendRule(const DeviceRule& r, std::vector<bpf_insn>* prog) {
  std::vector<bpf_insn> block;
  if (r.type != 'a') block.push_back(SkipIfNotImm(kType, r.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR));
  if (r.access != kDevAccessAll) {
    // Matches only when the rule grants every access asked for.
    block.push_back(Mov32Reg(BPF_REG_1, kAccess));
    block.push_back(Alu32Imm(BPF_AND, BPF_REG_1, static_cast<int32_t>(r.access)));
    block.push_back(SkipIfNotReg(BPF_REG_1, kAccess));
  }
  if (r.major != -1) block.push_back(SkipIfNotImm(kMajor, static_cast<int32_t>(r.major)));
  if (r.minor != -1) block.push_back(SkipIfNotImm(kMinor, static_cast<int32_t>(r.minor)));
  block.push_back(Return(r.allow ? 1 : 0));
  block.push_back(Exit());
  for (size_t i = 0; i < block.size(); i++) {
    if (BPF_CLASS(block[i].code) == BPF_JMP && BPF_OP(block[i].code) == BPF_JNE) block[i].off = static_cast<int16_t>(block.size() - 1 - i);
  }
  prog->insert(prog->end(), block.begin(), block.end());
}

// ---- bpf(2)

long Bpf(int cmd, bpf_attr* attr) { return syscall(SYS_bpf, cmd, attr, sizeof(*attr)); }

Status BpfError(const std::string& what, int err) {
  if (err == ENOSYS) return Error(Code::kUnimplemented, what + ": the guest kernel has no bpf() (CONFIG_BPF_SYSCALL)");
  return ErrnoError(what, err);
}

Result<UniqueFd> LoadProgram(const std::vector<bpf_insn>& program) {
  static const char kLicense[] = "Apache";
  bpf_attr attr{};
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = reinterpret_cast<uint64_t>(program.data());
  attr.insn_cnt = static_cast<uint32_t>(program.size());
  attr.license = reinterpret_cast<uint64_t>(kLicense);
  long fd = Bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
  int err = errno;
  if (err == EINVAL) {
    // The verifier's log says why (or the kernel lacks CONFIG_CGROUP_BPF and
    // knows no such program type: an empty log).
    std::string log(16384, '\0');
    attr.log_buf = reinterpret_cast<uint64_t>(log.data());
    attr.log_size = static_cast<uint32_t>(log.size());
    attr.log_level = 1;
    if (Bpf(BPF_PROG_LOAD, &attr) < 0) {
      log.resize(strnlen(log.c_str(), log.size()));
      if (log.empty()) {
        return Error(Code::kUnimplemented, "load the device filter: the guest kernel has no cgroup BPF (CONFIG_CGROUP_BPF)");
      }
      return Error(Code::kInternal, "load the device filter: the verifier refused it: " + log.substr(log.size() > 600 ? log.size() - 600 : 0));
    }
  }
  return BpfError("load the device filter (bpf BPF_PROG_LOAD)", err);
}

// Ids of the device programs attached to the cgroup itself.
std::vector<uint32_t> AttachedPrograms(int cgroup_fd) {
  std::vector<uint32_t> ids(64);
  bpf_attr attr{};
  attr.query.target_fd = static_cast<uint32_t>(cgroup_fd);
  attr.query.attach_type = BPF_CGROUP_DEVICE;
  attr.query.prog_ids = reinterpret_cast<uint64_t>(ids.data());
  attr.query.prog_cnt = static_cast<uint32_t>(ids.size());
  if (Bpf(BPF_PROG_QUERY, &attr) < 0) return {};
  ids.resize(std::min<size_t>(attr.query.prog_cnt, ids.size()));
  return ids;
}

Status Detach(int cgroup_fd, uint32_t prog_id) {
  bpf_attr attr{};
  attr.prog_id = prog_id;
  UniqueFd prog(static_cast<int>(Bpf(BPF_PROG_GET_FD_BY_ID, &attr)));
  if (!prog.valid()) return ErrnoError("find device program " + std::to_string(prog_id));
  attr = bpf_attr{};
  attr.target_fd = static_cast<uint32_t>(cgroup_fd);
  attr.attach_bpf_fd = static_cast<uint32_t>(prog.get());
  attr.attach_type = BPF_CGROUP_DEVICE;
  if (Bpf(BPF_PROG_DETACH, &attr) < 0) return ErrnoError("detach device program " + std::to_string(prog_id));
  return {};
}

}  // namespace

Result<std::vector<DeviceRule>> ParseDeviceRules(const json& devices) {
  std::vector<DeviceRule> rules;
  if (devices.is_null()) return rules;
  if (!devices.is_array()) return Error(Code::kInvalidArgument, "linux.resources.devices: not an array");
  for (size_t i = 0; i < devices.size(); i++) {
    const json& d = devices[i];
    if (!d.is_object()) return BadRule(i, "", "not an object");
    auto allow = d.find("allow");
    if (allow == d.end() || !allow->is_boolean()) return BadRule(i, ".allow", "missing or not a boolean");
    DeviceRule r;
    r.allow = allow->get<bool>();
    if (auto type = d.find("type"); type != d.end() && !type->is_null()) {
      const std::string* t = type->is_string() ? type->get_ptr<const std::string*>() : nullptr;
      if (t == nullptr || (*t != "a" && *t != "c" && *t != "b")) return BadRule(i, ".type", type->dump() + " (a, c or b)");
      r.type = (*t)[0];
    }
    ASSIGN_OR_RETURN(r.major, RuleNumber(d, "major", i));
    ASSIGN_OR_RETURN(r.minor, RuleNumber(d, "minor", i));
    ASSIGN_OR_RETURN(r.access, RuleAccess(d, i));
    rules.push_back(r);
  }
  return rules;
}

std::vector<DeviceRule> WithDefaults(std::vector<DeviceRule> rules, const std::vector<oci::Device>& spec_devices) {
  auto allow = [&](char type, int64_t major, int64_t minor, unsigned access) {
    rules.push_back(DeviceRule{true, type, major, minor, access});
  };
  allow('c', -1, -1, kDevAccessMknod);  // mknod of any node; opening is what is checked
  allow('b', -1, -1, kDevAccessMknod);
  for (const DefaultDevice& d : kDefaultDevices) allow('c', d.major, d.minor, kDevAccessAll);
  allow('c', 5, 1, kDevAccessAll);     // console
  allow('c', 5, 2, kDevAccessAll);     // ptmx
  allow('c', 136, -1, kDevAccessAll);  // pts/*
  allow('c', 10, 200, kDevAccessAll);  // net/tun
  for (const oci::Device& d : spec_devices) {
    if (d.type == "c" || d.type == "u") allow('c', d.major, d.minor, kDevAccessAll);
    if (d.type == "b") allow('b', d.major, d.minor, kDevAccessAll);
  }
  return rules;
}

std::vector<bpf_insn> CompileDeviceFilter(const std::vector<DeviceRule>& rules) {
  // cgroup v1 semantics: start from "allow all"; a rule for everything
  // resets the exceptions and sets the default.
  bool default_allow = true;
  std::vector<DeviceRule> exceptions;
  for (const DeviceRule& r : rules) {
    if (CoversEverything(r)) {
      default_allow = r.allow;
      exceptions.clear();
    } else {
      exceptions.push_back(r);
    }
  }
  std::vector<bpf_insn> prog = {
      LoadCtxWord(kType, offsetof(bpf_cgroup_dev_ctx, access_type)),
      Alu32Imm(BPF_AND, kType, 0xffff),  // low half: the device type
      LoadCtxWord(kAccess, offsetof(bpf_cgroup_dev_ctx, access_type)),
      Alu32Imm(BPF_RSH, kAccess, 16),  // high half: the access asked for
      LoadCtxWord(kMajor, offsetof(bpf_cgroup_dev_ctx, major)),
      LoadCtxWord(kMinor, offsetof(bpf_cgroup_dev_ctx, minor)),
  };
  // The last matching rule wins: test them from the last one back.
  for (auto it = exceptions.rbegin(); it != exceptions.rend(); ++it) AppendRule(*it, &prog);
  prog.push_back(Return(default_allow ? 1 : 0));
  prog.push_back(Exit());
  return prog;
}

Status AttachDeviceFilter(const std::string& cgroup_dir, const std::vector<bpf_insn>& program) {
  ASSIGN_OR_RETURN(UniqueFd prog, LoadProgram(program));
  UniqueFd cgroup(open(cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroup.valid()) return ErrnoError("open cgroup " + cgroup_dir);
  std::vector<uint32_t> earlier = AttachedPrograms(cgroup.get());
  bpf_attr attr{};
  attr.target_fd = static_cast<uint32_t>(cgroup.get());
  attr.attach_bpf_fd = static_cast<uint32_t>(prog.get());
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (Bpf(BPF_PROG_ATTACH, &attr) < 0) return BpfError("attach the device filter to " + cgroup_dir, errno);
  for (uint32_t id : earlier) RETURN_IF_ERROR(Detach(cgroup.get(), id));
  return {};
}

}  // namespace kata::agent
