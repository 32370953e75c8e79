// The pod-network changes a sandbox made (sandbox/network.h Mirror), kept in
// its VM directory (root's, out of the guest's reach) so that they are
// undone even when the service that made them died: the next `delete` finds
// the record and removes them.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "sandbox/network.h"

namespace kata::sandbox {

struct NetworkRecord {
  std::string netns_path;
  // The namespace the path named when the mirrors were made: a path that
  // names another namespace by the time of cleanup is left alone.
  uint64_t netns_dev = 0, netns_ino = 0;
  std::vector<Mirror> mirrors;
};

// Written before the mirrors are added (a crash half-way is covered).
Status SaveNetworkRecord(const std::string& run_dir, const NetworkRecord& r);
// Removes the recorded mirrors from their namespace, if it still exists
// and is the one recorded, then the record. No record: nothing to do.
Status UndoNetworkRecord(const std::string& run_dir);

}  // namespace kata::sandbox
