#include "sandbox/vm_cache_wire.h"

#include "ttrpc/client.h"
#include "ttrpc/socket.h"

namespace kata::sandbox::vmcache_wire {

Status Call(const std::string& endpoint, const char* method, const google::protobuf::MessageLite& request,
            google::protobuf::MessageLite* reply) {
  auto fd = ttrpc::DialUnix(endpoint);
  if (!fd.ok()) {
    return Error(Code::kUnavailable, "no VM cache answers at " + endpoint + " (" + fd.status().message() +
                                         "; start one with `kata-runtime factory init`)");
  }
  std::string in;
  if (!request.SerializeToString(&in)) return Error(Code::kInternal, "VM cache request " + std::string(method));
  Result<std::string> out = std::string();
  {
    // One connection per call, as the server expects of a taker; the client
    // owns the fd and closes it when it goes out of scope.
    ttrpc::Client client(*fd);
    out = client.Call(kService, method, in, kIoTimeout);
  }
  // Transport failures and the server's refusals alike: the taker logs why
  // it boots its own VM.
  if (!out.ok()) return out.status().Wrap("VM cache at " + endpoint);
  if (out->size() > kMaxReply) {
    return Error(Code::kInternal, "VM cache at " + endpoint + " sent a reply longer than 1 MiB");
  }
  if (!reply->ParseFromString(*out)) {
    return Error(Code::kInternal, "VM cache at " + endpoint + " sent a reply that is not a " + reply->GetTypeName());
  }
  return Status::Ok();
}

}  // namespace kata::sandbox::vmcache_wire
