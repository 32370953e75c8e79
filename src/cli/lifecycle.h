// Creating a container from the command line: start a sandbox service for
// it, create the container through the Task API, and be (or fork) the
// monitor process whose pid the caller waits on.
#pragma once

#include <sys/types.h>

#include <string>

#include "cli/options.h"
#include "cli/state_dir.h"
#include "common/status.h"

namespace kata::cli {

struct CreateOptions {
  std::string id;
  std::string bundle;
  std::string pid_file;
  std::string console_socket;
  bool no_pivot = false;
  bool no_new_keyring = false;
  int preserve_fds = 0;
};

// `create`: forks a detached monitor (re-parented to the caller's subreaper)
// that holds the container; returns once the container is created.
Status CreateDetached(const GlobalOptions& g, const CreateOptions& o);
// `start`: only from "created", with runc's error wording otherwise.
Status StartDetached(const GlobalOptions& g, const std::string& id);
// `run` in the foreground: this process is the monitor. Returns the exit
// status of the container.
Result<int> RunForeground(const GlobalOptions& g, const CreateOptions& o, bool keep);
// Deletes the container: stops its service (and so its VM) and removes the
// record. `force` kills a running container first.
Status DeleteContainer(const GlobalOptions& g, const std::string& id, bool force);

}  // namespace kata::cli
