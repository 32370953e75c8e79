// config.json as a bundle or the host supplies it: oci::ParseSpec (bounded
// JSON parse, type checks, validation), ToJson of what was accepted, and the
// standalone process JSON of `exec --process` / ExecProcess.
//
// Properties: no crash or sanitizer report; every error is InvalidArgument
// naming config.json; an accepted spec survives ToJson -> ParseSpec unchanged
// (spec_json.h promises ParseSpec(ToJson(s)) == s).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "oci/spec_json.h"

using namespace kata;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  Result<oci::Spec> spec = oci::ParseSpec(text);
  if (!spec.ok()) {
    FUZZ_CHECK(spec.status().code() == Code::kInvalidArgument, spec.status().message().c_str());
    FUZZ_CHECK(spec.status().message().rfind("config.json: ", 0) == 0, spec.status().message().c_str());
  } else {
    std::string again = oci::ToJson(*spec).dump();
    Result<oci::Spec> back = oci::ParseSpec(again);
    FUZZ_CHECK(back.ok(), back.status().message().c_str());
    FUZZ_CHECK(*back == *spec, again.c_str());
    if (spec->process) {
      Result<oci::Process> p = oci::ParseProcessJson(oci::ToJson(*spec->process).dump());
      FUZZ_CHECK(p.ok() && *p == *spec->process, "process round trip");
    }
  }
  Result<oci::Process> p = oci::ParseProcessJson(text);
  if (!p.ok()) FUZZ_CHECK(p.status().code() == Code::kInvalidArgument, p.status().message().c_str());
  return 0;
}
