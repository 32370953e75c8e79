// ReseedRandomDev, SetGuestDateTime: a clone's own identity (identity.h).
#include "agent/identity.h"

#include <fcntl.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "agent.pb.h"
#include "agent/agent_service.h"
#include "agent/guest_setup.h"
#include "agent/rpc_handlers.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "wkt.pb.h"

namespace kata::agent {
namespace {

constexpr size_t kMaxSeed = 4096;

}  // namespace

Status ReseedRandom(const std::string& data) {
  if (data.empty() || data.size() > kMaxSeed) {
    return Error(Code::kInvalidArgument, "random seed of " + std::to_string(data.size()) + " bytes (want 1.." +
                                             std::to_string(kMaxSeed) + ")");
  }
  UniqueFd fd(open("/dev/urandom", O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open /dev/urandom");
  // struct rand_pool_info ends in a flexible array: build it in a buffer.
  std::vector<char> buf(sizeof(rand_pool_info) + data.size());
  auto* info = reinterpret_cast<rand_pool_info*>(buf.data());
  info->entropy_count = static_cast<int>(data.size() * 8);
  info->buf_size = static_cast<int>(data.size());
  std::memcpy(buf.data() + sizeof(rand_pool_info), data.data(), data.size());
  Status st;
  if (ioctl(fd.get(), RNDADDENTROPY, info) != 0) {
    st = ErrnoError("RNDADDENTROPY on /dev/urandom");
  } else if (ioctl(fd.get(), RNDRESEEDCRNG) != 0) {
    st = ErrnoError("RNDRESEEDCRNG on /dev/urandom");
  }
  return st;
}

Result<std::string> NewMachineId() {
  unsigned char raw[16];
  if (getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw)) return ErrnoError("getrandom");
  static const char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : raw) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

Status RegenerateMachineId(const std::string& path) {
  if (!fs::Exists(path)) return Status::Ok();
  ASSIGN_OR_RETURN(std::string id, NewMachineId());
  return fs::WriteFileAtomic(path, id + "\n", 0444);
}

void AgentService::RegisterIdentity(ttrpc::Server& server) {
  ttrpc::Bind(server, kAgentService, "ReseedRandomDev", this, &AgentService::ReseedRandomDev);
  ttrpc::Bind(server, kAgentService, "SetGuestDateTime", this, &AgentService::SetGuestDateTime);
}

Result<Empty> AgentService::ReseedRandomDev(const grpc::ReseedRandomDevRequest& req) {
  if (!opts_.guest) return Empty();  // never the host's pool (tests)
  RETURN_IF_ERROR(ReseedRandom(req.data()).Wrap("reseed the guest's random pool"));
  // After the reseed: the id comes from this clone's own stream.
  RETURN_IF_ERROR(RegenerateMachineId().Wrap("regenerate /etc/machine-id"));
  return Empty();
}

Result<Empty> AgentService::SetGuestDateTime(const grpc::SetGuestDateTimeRequest& req) {
  if (!opts_.guest) return Empty();
  if (req.sec() <= 0 || req.usec() < 0 || req.usec() >= 1000000) {
    return Error(Code::kInvalidArgument, "guest time " + std::to_string(req.sec()) + "." +
                                             std::to_string(req.usec()) + " is out of range");
  }
  SetClock(req.sec() * 1000000000LL + req.usec() * 1000LL);
  return Empty();
}

}  // namespace kata::agent
