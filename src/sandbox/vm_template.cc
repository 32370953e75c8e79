#include "sandbox/vm_template.h"

#include <glob.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"
#include "sandbox/agent_client.h"
#include "sandbox/netns.h"
#include "sandbox/network.h"
#include "sandbox/template_fingerprint.h"

namespace kata::sandbox {
namespace {

// Why a template build failed, with the guest's or QEMU's last words.
Status WithLogs(const Status& st, const vmm::Hypervisor& hv) {
  std::string quote;
  for (const auto& path : {hv.VmmLogPath(), hv.ConsoleLogPath()}) {
    auto text = fs::ReadFile(path);
    if (text.ok() && !text->empty()) quote += "; " + fs::Basename(path) + ": " + TailLines(*text, 3);
  }
  return Error(st.code(), st.message() + quote);
}

// Boots the template VM in `staging` and saves it there; the VM is stopped
// when this returns, whatever happened.
Status BootAndSave(vmm::VmSpec vm, const TemplateFiles& staging, const std::string& hypervisor,
                   std::chrono::milliseconds agent_timeout) {
  vm.id = "template";
  vm.run_dir = staging.dir + "/run";
  // An empty share: the device must exist (clones have it) but the agent
  // mounts it only at CreateSandbox, which a template never gets.
  vm.shared_dir = staging.dir + "/share";
  vm.share_source_dir.clear();
  vm.memory_file = staging.memory();
  vm.memory_file_shared = true;
  vm.restore_state.clear();
  // The one NIC every sandbox VM has (Sandbox::PrepareNetwork), its tap in a
  // scratch network namespace that goes away with this VM.
  ASSIGN_OR_RETURN(NetNs scratch, NetNs::CreateNew());
  vm.netns_fd = scratch.fd();
  vm.nics = {SandboxNic()};
  RETURN_IF_ERROR(fs::MkdirAll(vm.run_dir, 0700));
  RETURN_IF_ERROR(fs::MkdirAll(vm.shared_dir, 0700));
  // Guest RAM: ours to create, 0600 (QEMU would make it with its umask).
  RETURN_IF_ERROR(fs::WriteFileAtomic(vm.memory_file, "", 0600));
  ASSIGN_OR_RETURN(std::unique_ptr<vmm::Hypervisor> hv, vmm::NewHypervisor(hypervisor));
  auto t0 = std::chrono::steady_clock::now();
  Status st = hv->Start(vm);
  if (st.ok()) {
    auto alive = [&] { return hv->Running(); };
    auto agent = AgentClient::Dial(hv->AgentSocketPath(), agent_timeout, alive);
    st = agent.ok() ? (*agent)->WaitReady(agent_timeout, alive) : agent.status();
    if (agent.ok()) (*agent)->Close();
  }
  if (st.ok()) {
    log::Info("template VM ready in " +
              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()) +
              " ms; saving it");
    // Let the guest see the host hang up before it is frozen: a clone then
    // starts with its agent waiting for a new host, not reading a dead one.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    st = hv->SaveState(staging.state());
  }
  if (!st.ok()) st = WithLogs(st, *hv);
  Status stop = hv->Stop(std::chrono::milliseconds(2000));
  if (st.ok() && !stop.ok()) st = stop;
  return st;
}

// "<dir>.new.<pid>" / "<dir>.old.<pid>" left by a `factory init` that was
// killed half-way (its QEMU died with it: PR_SET_PDEATHSIG).
Status RemoveAbandonedSiblings(const std::string& dir) {
  Status first;
  for (const char* kind : {".new.", ".old."}) {
    glob_t g{};
    if (glob((dir + kind + "*").c_str(), GLOB_NOSORT, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; i++) {
        std::string path = g.gl_pathv[i];
        std::string pid_text = path.substr(dir.size() + std::string(kind).size());
        if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
        pid_t pid = static_cast<pid_t>(std::stol(pid_text));
        if (pid != getpid() && kill(pid, 0) == 0) continue;  // an init still at work
        Status st = fs::RemoveAll(path);
        if (!st.ok() && first.ok()) first = st;
      }
    }
    globfree(&g);
  }
  return first;
}

std::string WithoutTrailingSlash(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

}  // namespace

Status CheckTemplatePath(const std::string& dir) {
  if (dir.empty() || dir[0] != '/') {
    return Error(Code::kInvalidArgument, "factory.template_path \"" + dir + "\" is not an absolute path");
  }
  if (dir.find(',') != std::string::npos) {
    return Error(Code::kInvalidArgument, "factory.template_path \"" + dir + "\" contains ',' (QEMU cannot take it)");
  }
  if (dir.find_first_not_of('/') == std::string::npos) {
    return Error(Code::kInvalidArgument, "factory.template_path must not be \"/\"");
  }
  return Status::Ok();
}

Status CreateVmTemplate(const vmm::VmSpec& spec, const std::string& dir, const std::string& hypervisor,
                        std::chrono::milliseconds agent_timeout) {
  RETURN_IF_ERROR(CheckTemplatePath(dir));
  std::string clean = WithoutTrailingSlash(dir);
  TemplateFiles staging{clean + ".new." + std::to_string(getpid())};
  RETURN_IF_ERROR(fs::RemoveAll(staging.dir));
  RETURN_IF_ERROR(fs::MkdirAll(staging.dir, 0700));
  Status st = BootAndSave(spec, staging, hypervisor, agent_timeout);
  if (st.ok()) st = fs::RemoveAll(staging.dir + "/run");
  if (st.ok()) st = fs::RemoveAll(staging.dir + "/share");
  if (st.ok()) st = fs::WriteFileAtomic(staging.fingerprint(), TemplateFingerprint(spec, FileIdentity, FileSha256), 0600);
  if (st.ok() && fs::Exists(clean)) {
    // Never rewrite the old files in place: clones map the RAM file
    // privately, and a page they have not written yet is read from the file.
    std::string old = clean + ".old." + std::to_string(getpid());
    if (rename(clean.c_str(), old.c_str()) != 0) {
      st = ErrnoError("move the old template " + clean + " aside");
    } else {
      st = fs::RemoveAll(old);
    }
  }
  if (st.ok() && rename(staging.dir.c_str(), clean.c_str()) != 0) st = ErrnoError("rename " + staging.dir + " to " + clean);
  if (!st.ok()) {
    Status cleanup = fs::RemoveAll(staging.dir);
    if (!cleanup.ok()) log::Warn("removing " + staging.dir + ": " + cleanup.message());
    return st.Wrap("creating the VM template in " + clean);
  }
  return Status::Ok();
}

TemplateStatus InspectVmTemplate(const vmm::VmSpec& spec, const std::string& dir) {
  TemplateStatus s;
  TemplateFiles t{dir};
  auto stored = fs::ReadFile(t.fingerprint());
  if (!stored.ok()) {
    s.reason = "no template in " + dir;
    return s;
  }
  for (const auto& path : {t.memory(), t.state()}) {
    if (!fs::Exists(path)) {
      s.reason = "template in " + dir + " is incomplete: " + path + " is missing";
      return s;
    }
  }
  s.exists = true;
  FingerprintCheck check = CompareFingerprint(*stored, TemplateFingerprint(spec));
  if (!check.match) {
    s.reason = "template in " + dir + " is stale: " + check.reason;
    return s;
  }
  if (!check.refreshed.empty()) {
    // Same content under a new mtime or inode: record it, so the next
    // sandbox need not hash the kernel again.
    Status st = fs::WriteFileAtomic(t.fingerprint(), check.refreshed, 0600);
    if (!st.ok()) log::Warn("updating " + t.fingerprint() + ": " + st.message());
  }
  s.valid = true;
  return s;
}

Status DestroyVmTemplate(const std::string& dir) {
  RETURN_IF_ERROR(CheckTemplatePath(dir));
  // The fingerprint first: a sandbox starting meanwhile sees no template.
  if (unlink(TemplateFiles{dir}.fingerprint().c_str()) != 0 && errno != ENOENT) {
    return ErrnoError("remove " + TemplateFiles{dir}.fingerprint());
  }
  RETURN_IF_ERROR(fs::RemoveAll(dir).Wrap("removing the VM template " + dir));
  return RemoveAbandonedSiblings(WithoutTrailingSlash(dir)).Wrap("removing what a killed factory init left");
}

std::string UseVmTemplate(const std::string& dir, vmm::VmSpec* spec) {
  // A clone's device set must be the template's: one NIC with the boot MAC
  // (microvm cannot hotplug; the MAC is restored device state).
  if (spec->nics.size() != 1 || spec->nics[0].mac != kGuestBootMac) {
    return "the sandbox's network devices differ from the template's (one NIC, MAC " + std::string(kGuestBootMac) + ")";
  }
  if (Status st = CheckTemplatePath(dir); !st.ok()) return st.message();
  TemplateStatus s = InspectVmTemplate(*spec, dir);
  if (!s.valid) return s.reason;
  TemplateFiles t{dir};
  spec->memory_file = t.memory();
  spec->memory_file_shared = false;
  spec->restore_state = t.state();
  return "";
}

}  // namespace kata::sandbox
