// config.json <-> kata::oci::Spec.
//
// Parse* check JSON types and then validate the content; every error is an
// InvalidArgument naming the field, e.g.
//   config.json: process.cwd "foo" must be an absolute path
//   config.json: mounts[2].destination "tmp" must be an absolute path
// (ParseProcess errors start with "process." and carry no file prefix; the
// caller adds one). JSON `null` counts as absent, unknown keys are ignored
// (and therefore not written back by ToJson).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "oci/spec.h"

namespace kata::oci {

// Parses and validates a whole config.json document.
Result<Spec> ParseSpec(const std::string& json_text);
Result<Spec> ParseSpec(const nlohmann::json& doc);
// Reads <bundle_dir>/config.json (NotFound if missing) and parses it.
Result<Spec> LoadSpec(const std::string& bundle_dir);

// A standalone process object (runc exec --process, the agent's exec RPC).
Result<Process> ParseProcess(const nlohmann::json& j);
Result<Process> ParseProcessJson(const std::string& json_text);
// linux.resources alone (runc update's --resources, the Task API's Update).
Result<Resources> ParseResourcesJson(const std::string& json_text);

// Semantic checks only (ParseSpec already runs them).
Status ValidateSpec(const Spec& spec);
Status ValidateProcess(const Process& process);  // messages start with "process."

// Serialisation in the spec's JSON form (Go omitempty rules), so the host can
// forward the spec to the agent and ParseSpec(ToJson(s)) == s.
nlohmann::json ToJson(const Spec& spec);
nlohmann::json ToJson(const Process& process);

}  // namespace kata::oci
