#include "agent/process_table.h"

#include <unistd.h>

namespace kata::agent {

void StdioEnd::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  fd_.reset();
}

Status ProcessTable::AddContainer(std::shared_ptr<Container> c) {
  std::lock_guard<std::mutex> lock(mu_);
  if (containers_.count(c->id)) return Error(Code::kAlreadyExists, "container " + c->id + " already exists");
  containers_[c->id] = std::move(c);
  return Status::Ok();
}

Result<std::shared_ptr<Container>> ProcessTable::GetContainer(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end()) return Error(Code::kNotFound, "container " + id + " does not exist");
  return it->second;
}

Result<std::shared_ptr<Process>> ProcessTable::GetProcess(const std::string& id, const std::string& exec_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Container> c, GetContainer(id));
  std::lock_guard<std::mutex> lock(mu_);
  if (exec_id.empty() || exec_id == id) return c->init;
  auto it = c->execs.find(exec_id);
  if (it == c->execs.end()) return Error(Code::kNotFound, "process " + exec_id + " of container " + id + " does not exist");
  return it->second;
}

Status ProcessTable::AddExec(const std::string& id, std::shared_ptr<Process> p) {
  ASSIGN_OR_RETURN(std::shared_ptr<Container> c, GetContainer(id));
  std::lock_guard<std::mutex> lock(mu_);
  if (c->execs.count(p->exec_id)) return Error(Code::kAlreadyExists, "exec " + p->exec_id + " already exists in " + id);
  c->execs[p->exec_id] = std::move(p);
  return Status::Ok();
}

void ProcessTable::RemoveContainer(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  containers_.erase(id);
}

void ProcessTable::RetireExecIfDone(const std::string& id, const std::shared_ptr<Process>& p) {
  if (p->exec_id.empty() || p->exec_id == id) return;  // the init goes with its container
  {
    std::lock_guard<std::mutex> lock(p->mu);
    if (!p->waited || p->stdout_r.fd() >= 0 || p->stderr_r.fd() >= 0) return;
  }
  p->stdin_w.Close();
  p->term.Close();
  auto c = GetContainer(id);
  if (!c.ok()) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = (*c)->execs.find(p->exec_id);
  if (it != (*c)->execs.end() && it->second == p) (*c)->execs.erase(it);
}

std::vector<std::shared_ptr<Container>> ProcessTable::All() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Container>> out;
  for (auto& [id, c] : containers_) out.push_back(c);
  return out;
}

}  // namespace kata::agent
