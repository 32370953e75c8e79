#include "monitor/sandbox_figures.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <sstream>

#include "agent.pb.h"
#include "common/fs.h"
#include "common/process_identity.h"
#include "common/strings.h"
#include "sandbox/sandbox_endpoint.h"
#include "sandbox/ownership.h"
#include "sandbox/paths.h"
#include "ttrpc/client.h"
#include "ttrpc/socket.h"

namespace kata::monitor {
namespace {

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// "Key:   value kB" lines of /proc/PID/status or smaps_rollup.
double StatusValue(const std::string& text, const std::string& key) {
  size_t at = text.find("\n" + key + ":");
  if (at == std::string::npos && text.rfind(key + ":", 0) == 0) at = 0;
  else if (at == std::string::npos) return -1;
  else at++;
  std::istringstream f(text.substr(at + key.size() + 1));
  double v = -1;
  std::string unit;
  f >> v >> unit;
  return unit == "kB" ? v * 1024 : v;
}

// kata_hypervisor_* or kata_shim_* of one process (labelled with its sandbox).
void AddProcess(const std::string& prefix, const std::string& what, pid_t pid, const std::string& sid, Exposition* e) {
  std::string proc = "/proc/" + std::to_string(pid);
  Labels l = {{"sandbox_id", sid}};
  auto stat = fs::ReadFile(proc + "/stat");
  if (!stat.ok()) return;
  // Fields after the command (which may hold spaces): state is field 3.
  std::istringstream f(stat->substr(stat->rfind(')') + 2));
  std::vector<std::string> fields{std::istream_iterator<std::string>(f), {}};
  double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (fields.size() > 12) {
    std::string n = prefix + "_proc_stat_seconds_total";
    e->Add(n, "counter", "CPU time of the " + what + " on the host.", {{"sandbox_id", sid}, {"mode", "user"}}, std::stod(fields[11]) / hz);
    e->Add(n, "counter", "", {{"sandbox_id", sid}, {"mode", "system"}}, std::stod(fields[12]) / hz);
  }
  std::string status = fs::ReadFile(proc + "/status").value_or("");
  for (const char* key : {"VmRSS", "VmHWM", "VmSize", "RssAnon", "RssFile", "RssShmem"}) {
    double v = StatusValue(status, key);
    if (v >= 0) e->Add(prefix + "_proc_status", "gauge", "Memory of the " + what + " from /proc/PID/status, in bytes.", {{"sandbox_id", sid}, {"item", key}}, v);
  }
  double pss = StatusValue(fs::ReadFile(proc + "/smaps_rollup").value_or(""), "Pss");
  if (pss >= 0) e->Add(prefix + "_pss_bytes", "gauge", "Proportional set size of the " + what + ".", l, pss);
  double threads = StatusValue(status, "Threads");
  if (threads >= 0) e->Add(prefix + "_threads", "gauge", "Threads of the " + what + ".", l, threads);
  e->Add(prefix + "_fds", "gauge", "Open file descriptors of the " + what + ".", l, static_cast<double>(Entries(proc + "/fd").size()));
  std::string io = fs::ReadFile(proc + "/io").value_or("");
  for (const char* key : {"read_bytes", "write_bytes", "rchar", "wchar"}) {
    double v = StatusValue(io, key);
    if (v >= 0) e->Add(prefix + "_io_bytes_total", "counter", "I/O of the " + what + " from /proc/PID/io.", {{"sandbox_id", sid}, {"item", key}}, v);
  }
}

// The guest's text from the sandbox's endpoint.
Result<std::string> GuestText(const std::string& run_dir, std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(int fd, ttrpc::DialUnix(sandbox::EndpointSocket(run_dir)));
  ttrpc::Client client(fd);
  grpc::GetMetricsRequest req;
  grpc::Metrics resp;
  RETURN_IF_ERROR(client.Call(sandbox::kMetricsService, sandbox::kMetricsMethod, req, &resp, timeout));
  return std::move(*resp.mutable_metrics());
}

void AddBootHistogram(const std::vector<double>& boots, Exposition* e) {
  const std::string n = "kata_sandbox_boot_seconds";
  const std::string help = "Time from starting the VMM to the agent answering, over the sandboxes running.";
  double sum = 0;
  for (double b : boots) sum += b;
  for (double le : {0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0}) {
    double n_le = static_cast<double>(std::count_if(boots.begin(), boots.end(), [le](double b) { return b <= le; }));
    std::ostringstream s;
    s << le;
    e->Add(n, "histogram", help, {{"le", s.str()}}, n_le, "_bucket");
  }
  e->Add(n, "histogram", help, {{"le", "+Inf"}}, static_cast<double>(boots.size()), "_bucket");
  e->Add(n, "histogram", help, {}, sum, "_sum");
  e->Add(n, "histogram", help, {}, static_cast<double>(boots.size()), "_count");
}

}  // namespace

std::vector<std::string> RunningSandboxes(const std::string& vm_root) {
  std::vector<std::string> out;
  for (const std::string& id : Entries(vm_root)) {
    if (fs::Exists(sandbox::EndpointSocket(fs::JoinPath(vm_root, id)))) out.push_back(id);
  }
  return out;
}

ScrapeResult AddSandboxFigures(const ScrapeOptions& opts, Exposition* e) {
  ScrapeResult r;
  std::vector<double> boots;
  for (const std::string& sid : RunningSandboxes(opts.vm_root)) {
    std::string run_dir = fs::JoinPath(opts.vm_root, sid);
    r.sandboxes++;
    if (auto vmm = sandbox::RecordedVmm(run_dir); vmm.ok() && proc::StillRunning(*vmm)) {
      AddProcess("kata_hypervisor", "VMM", vmm->pid, sid, e);
    }
    auto service = fs::ReadFile(sandbox::ServiceRecord(run_dir));
    if (auto id = service.ok() ? proc::IdentityFromText(*service) : Result<proc::Identity>(service.status());
        id.ok() && proc::StillRunning(*id)) {
      AddProcess("kata_shim", "sandbox service (shim)", id->pid, sid, e);
    }
    if (auto boot = fs::ReadFile(sandbox::BootTimeRecord(run_dir)); boot.ok()) {
      char* end = nullptr;
      double s = std::strtod(boot->c_str(), &end);
      if (end != boot->c_str()) boots.push_back(s);
    }
    auto guest = GuestText(run_dir, opts.guest_timeout);
    if (guest.ok()) r.guest_dropped += e->MergeGuest(*guest, sid);
    else r.guest_errors++;
  }
  AddBootHistogram(boots, e);
  return r;
}

}  // namespace kata::monitor
