#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "common/json_parse.h"
#include "oci/spec_json.h"
#include "oci/state.h"

namespace kata::oci {
namespace {

using nlohmann::json;

// Roughly what containerd 1.6 writes for `ctr run`.
const char* kGoodSpec = R"({
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": true,
    "consoleSize": {"height": 24, "width": 80},
    "user": {"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [10, 20]},
    "args": ["sh", "-c", "echo hi"],
    "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "FOO=bar"],
    "cwd": "/work",
    "capabilities": {
      "bounding": ["CAP_CHOWN", "CAP_KILL"],
      "effective": ["CAP_CHOWN"],
      "permitted": ["CAP_CHOWN"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512}],
    "noNewPrivileges": true,
    "oomScoreAdj": -500
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "box",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "ro"]}
  ],
  "hooks": {
    "prestart": [{"path": "/usr/bin/hook", "args": ["hook", "x"], "env": ["A=1"], "timeout": 5}],
    "poststop": [{"path": "/bin/true"}]
  },
  "annotations": {"io.kubernetes.cri.container-type": "container"},
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/x"}, {"type": "mount"}],
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "sysctl": {"net.ipv4.ip_forward": "1"},
    "resources": {
      "devices": [{"allow": false, "access": "rwm"}],
      "memory": {"limit": 536870912, "swap": -1},
      "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1"},
      "pids": {"limit": 100}
    },
    "cgroupsPath": "/k8s/pod1/c1",
    "devices": [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 438}],
    "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]},
    "maskedPaths": ["/proc/kcore"],
    "readonlyPaths": ["/proc/sys"],
    "rootfsPropagation": "rslave"
  },
  "vm": {"kernel": {"path": "/ignored"}}
})";

TEST(OciSpecTest, ParsesGoodSpec) {
  auto r = ParseSpec(std::string(kGoodSpec));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Spec& s = *r;
  EXPECT_EQ(s.oci_version, "1.0.2-dev");
  ASSERT_TRUE(s.process);
  const Process& p = *s.process;
  EXPECT_TRUE(p.terminal);
  ASSERT_TRUE(p.console_size);
  EXPECT_EQ(p.console_size->width, 80u);
  EXPECT_EQ(p.user.uid, 1000u);
  EXPECT_EQ(p.user.umask, 18u);
  EXPECT_EQ(p.user.additional_gids, (std::vector<uint32_t>{10, 20}));
  EXPECT_EQ(p.args, (std::vector<std::string>{"sh", "-c", "echo hi"}));
  EXPECT_EQ(p.env.size(), 2u);
  EXPECT_EQ(p.cwd, "/work");
  ASSERT_TRUE(p.capabilities);
  EXPECT_EQ(p.capabilities->bounding.size(), 2u);
  EXPECT_TRUE(p.capabilities->ambient.empty());
  ASSERT_EQ(p.rlimits.size(), 1u);
  EXPECT_EQ(p.rlimits[0].soft, 512u);
  EXPECT_TRUE(p.no_new_privileges);
  EXPECT_EQ(p.oom_score_adj, -500);
  EXPECT_EQ(s.root.path, "rootfs");
  EXPECT_TRUE(s.root.readonly);
  EXPECT_EQ(s.hostname, "box");
  ASSERT_EQ(s.mounts.size(), 3u);
  EXPECT_EQ(s.mounts[2].options, (std::vector<std::string>{"rbind", "ro"}));
  ASSERT_TRUE(s.hooks);
  ASSERT_EQ(s.hooks->prestart.size(), 1u);
  EXPECT_EQ(s.hooks->prestart[0].timeout, 5);
  EXPECT_EQ(s.hooks->poststop[0].path, "/bin/true");
  EXPECT_EQ(s.annotations.at("io.kubernetes.cri.container-type"), "container");
  ASSERT_TRUE(s.linux_config);
  const Linux& l = *s.linux_config;
  ASSERT_EQ(l.namespaces.size(), 3u);
  EXPECT_EQ(l.namespaces[1].path, "/var/run/netns/x");
  EXPECT_EQ(l.uid_mappings[0].host_id, 100000u);
  EXPECT_EQ(l.sysctl.at("net.ipv4.ip_forward"), "1");
  ASSERT_TRUE(l.resources);
  EXPECT_EQ(l.resources->memory_limit, 536870912);
  EXPECT_EQ(l.resources->memory_swap, -1);
  EXPECT_EQ(l.resources->cpu_quota, 50000);
  EXPECT_EQ(l.resources->cpuset_cpus, "0-1");
  EXPECT_EQ(l.resources->pids_limit, 100);
  EXPECT_EQ(l.resources->raw["devices"][0]["access"], "rwm");
  EXPECT_EQ(l.cgroups_path, "/k8s/pod1/c1");
  EXPECT_EQ(l.devices[0].file_mode, 438u);
  EXPECT_EQ(l.seccomp["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(l.masked_paths[0], "/proc/kcore");
  EXPECT_EQ(l.rootfs_propagation, "rslave");
}

TEST(OciSpecTest, MinimalSpecAndNullsAreAbsent) {
  auto r = ParseSpec(std::string(
      R"({"ociVersion":"1.2.0","root":{"path":"/r"},"process":null,"hooks":null,"linux":null})"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->process);
  EXPECT_FALSE(r->hooks);
  EXPECT_FALSE(r->linux_config);
}

struct BadCase {
  const char* name;
  std::string json;
  std::string want;  // substring of the message
};

json Base() {
  return json::parse(R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},
      "process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}}})");
}

std::string With(const std::function<void(json&)>& edit) {
  json j = Base();
  edit(j);
  return j.dump();
}

class OciSpecBadTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(OciSpecBadTest, RejectsWithFieldName) {
  auto r = ParseSpec(GetParam().json);
  ASSERT_FALSE(r.ok()) << GetParam().name;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find(GetParam().want), std::string::npos)
      << GetParam().name << ": got " << r.status().message();
  EXPECT_EQ(r.status().message().rfind("config.json: ", 0), 0u) << r.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, OciSpecBadTest,
    ::testing::Values(
        BadCase{"invalid_json", "{\"ociVersion\": ", "invalid JSON"},
        BadCase{"not_object", "[1,2]", "must be a JSON object"},
        BadCase{"missing_version", With([](json& j) { j.erase("ociVersion"); }), "ociVersion is required"},
        BadCase{"version_not_string", With([](json& j) { j["ociVersion"] = 1; }), "ociVersion must be a string"},
        BadCase{"version_major_2", With([](json& j) { j["ociVersion"] = "2.0.0"; }),
                "ociVersion \"2.0.0\" is not a supported version"},
        BadCase{"version_garbage", With([](json& j) { j["ociVersion"] = "one"; }), "ociVersion \"one\""},
        BadCase{"missing_args", With([](json& j) { j["process"].erase("args"); }),
                "process.args is required"},
        BadCase{"empty_args", With([](json& j) { j["process"]["args"] = json::array(); }), "process.args"},
        BadCase{"args_not_strings", With([](json& j) { j["process"]["args"] = {1}; }),
                "process.args[0] must be a string"},
        BadCase{"relative_cwd", With([](json& j) { j["process"]["cwd"] = "foo"; }),
                "config.json: process.cwd \"foo\" must be an absolute path"},
        BadCase{"missing_cwd", With([](json& j) { j["process"].erase("cwd"); }), "process.cwd is required"},
        BadCase{"bad_env", With([](json& j) { j["process"]["env"] = {"PATH=/bin", "FOO"}; }),
                "process.env[1] \"FOO\" must have the form KEY=VALUE"},
        BadCase{"uid_string", With([](json& j) { j["process"]["user"]["uid"] = "0"; }),
                "process.user.uid must be an integer"},
        BadCase{"uid_negative", With([](json& j) { j["process"]["user"]["uid"] = -1; }),
                "process.user.uid must be an integer in [0, 4294967295]"},
        BadCase{"bad_rlimit", With([](json& j) {
                  j["process"]["rlimits"] = {{{"type", "RLIMIT_FOO"}, {"hard", 1}, {"soft", 1}}};
                }),
                "process.rlimits[0].type \"RLIMIT_FOO\""},
        BadCase{"rlimit_soft_gt_hard", With([](json& j) {
                  j["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"hard", 1}, {"soft", 2}}};
                }),
                "soft limit 2 exceeds hard limit 1"},
        BadCase{"missing_root", With([](json& j) { j.erase("root"); }), "root.path is required"},
        BadCase{"root_path_empty", With([](json& j) { j["root"]["path"] = ""; }), "root.path is required"},
        BadCase{"unknown_ns", With([](json& j) { j["linux"]["namespaces"] = {{{"type", "foo"}}}; }),
                "linux.namespaces[0].type \"foo\" is not a namespace type"},
        BadCase{"dup_ns", With([](json& j) { j["linux"]["namespaces"] = {{{"type", "pid"}}, {{"type", "pid"}}}; }),
                "more than one \"pid\" namespace"},
        BadCase{"relative_ns_path",
                With([](json& j) { j["linux"]["namespaces"] = {{{"type", "network"}, {"path", "netns"}}}; }),
                "linux.namespaces[0].path \"netns\" must be an absolute path"},
        BadCase{"relative_mount", With([](json& j) { j["mounts"] = {{{"destination", "tmp"}, {"type", "tmpfs"}}}; }),
                "mounts[0].destination \"tmp\" must be an absolute path"},
        BadCase{"mount_no_dest", With([](json& j) { j["mounts"] = {{{"type", "tmpfs"}}}; }),
                "mounts[0].destination is required"},
        BadCase{"mount_options_type", With([](json& j) { j["mounts"] = {{{"destination", "/x"}, {"options", "ro"}}}; }),
                "mounts[0].options must be an array of strings"},
        BadCase{"relative_hook", With([](json& j) { j["hooks"]["poststart"] = {{{"path", "hook.sh"}}}; }),
                "hooks.poststart[0].path \"hook.sh\" must be an absolute path"},
        BadCase{"hook_timeout", With([](json& j) { j["hooks"]["prestart"] = {{{"path", "/h"}, {"timeout", 0}}}; }),
                "hooks.prestart[0].timeout must be greater than zero"},
        BadCase{"propagation", With([](json& j) { j["linux"]["rootfsPropagation"] = "sideways"; }),
                "linux.rootfsPropagation \"sideways\""},
        BadCase{"masked_relative", With([](json& j) { j["linux"]["maskedPaths"] = {"proc/kcore"}; }),
                "linux.maskedPaths[0] \"proc/kcore\" must be an absolute path"},
        BadCase{"device_type", With([](json& j) { j["linux"]["devices"] = {{{"type", "x"}, {"path", "/dev/x"}}}; }),
                "linux.devices[0].type \"x\""},
        BadCase{"annotation_value", With([](json& j) { j["annotations"] = {{"a", 1}}; }),
                "annotations[\"a\"] must be a string"},
        BadCase{"idmap_size", With([](json& j) { j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1}, {"size", 0}}}; }),
                "linux.uidMappings[0].size must be greater than zero"},
        BadCase{"process_not_object", With([](json& j) { j["process"] = "sh"; }), "process must be an object"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

TEST(OciSpecTest, RoundTrip) {
  auto first = ParseSpec(std::string(kGoodSpec));
  ASSERT_TRUE(first.ok()) << first.status().message();
  json out = ToJson(*first);
  auto second = ParseSpec(out.dump());
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(*first, *second);
  EXPECT_EQ(ToJson(*second), out);
  // Go omitempty shape: no "terminal": false, "user" always present, unknown keys dropped.
  EXPECT_EQ(out["root"], json::parse(R"({"path":"rootfs","readonly":true})"));
  EXPECT_FALSE(out.contains("vm"));
  EXPECT_FALSE(out["process"]["capabilities"].contains("ambient"));
  EXPECT_EQ(out["linux"]["resources"], json::parse(kGoodSpec)["linux"]["resources"]);
  EXPECT_EQ(out["linux"]["seccomp"], json::parse(kGoodSpec)["linux"]["seccomp"]);

  Spec minimal;
  minimal.oci_version = "1.0.0";
  minimal.root.path = "/r";
  minimal.hooks = Hooks{};  // present but empty survives
  minimal.linux_config = Linux{};
  auto back = ParseSpec(ToJson(minimal).dump());
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, minimal);
}

TEST(OciSpecTest, ProcessRoundTripAndErrors) {
  auto spec = ParseSpec(std::string(kGoodSpec));
  ASSERT_TRUE(spec.ok());
  json pj = ToJson(*spec->process);
  auto p = ParseProcess(pj);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(*p, *spec->process);
  auto p2 = ParseProcessJson(pj.dump());
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(*p2, *p);

  Process minimal;
  minimal.args = {"ls"};
  minimal.cwd = "/";
  EXPECT_EQ(ToJson(minimal), json::parse(R"({"args":["ls"],"cwd":"/","user":{"gid":0,"uid":0}})"));

  auto bad = ParseProcess(json::parse(R"({"args":["ls"],"cwd":"rel"})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "process.cwd \"rel\" must be an absolute path");
  auto noargs = ParseProcessJson(R"({"cwd":"/"})");
  ASSERT_FALSE(noargs.ok());
  EXPECT_EQ(noargs.status().message(), "process.args is required and must not be empty");
  EXPECT_FALSE(ParseProcessJson("nope").ok());
}

TEST(OciSpecTest, LoadSpecFromBundle) {
  char tmpl[] = "/tmp/oci-bundle-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  auto missing = LoadSpec(dir);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find(dir + "/config.json"), std::string::npos);
  std::ofstream(dir + "/config.json") << kGoodSpec;
  auto loaded = LoadSpec(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->hostname, "box");
  std::ofstream(dir + "/config.json") << R"({"ociVersion":"1.0.2","root":{"path":"r"},"process":{"args":["a"],"cwd":"x"}})";
  auto bad = LoadSpec(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "config.json: process.cwd \"x\" must be an absolute path");
  unlink((dir + "/config.json").c_str());
  rmdir(dir.c_str());
}

// "[[[...]]]": `depth` arrays inside each other.
std::string Nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// nlohmann's parser is iterative, so a 200,000-deep document used to parse
// and then overflow the stack where the value was copied (linux.seccomp and
// linux.resources are kept as JSON) or dumped: refused while parsing now.
TEST(OciSpecTest, DeeplyNestedJsonIsRefusedNotACrash) {
  const std::string deep = Nested(200000);
  const std::string head = R"({"ociVersion":"1.0.2","root":{"path":"r"},"process":{"args":["a"],"cwd":"/"},)";
  for (const std::string& doc : {deep, head + R"("linux":{"seccomp":{"x":)" + deep + "}}}",
                                 head + R"("linux":{"resources":{"devices":[{"type":)" + deep + "}]}}}",
                                 head + R"("annotations":{"a":)" + deep + "}}"}) {
    auto r = ParseSpec(doc);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.status().message(), "config.json: JSON nested deeper than 64 levels");
  }
  auto p = ParseProcessJson(R"({"args":)" + deep + "}");
  EXPECT_EQ(p.status().message(), "process: JSON nested deeper than 64 levels");

  char tmpl[] = "/tmp/oci-deep-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::ofstream(dir + "/config.json") << head + R"("linux":{"seccomp":)" + deep + "}}";
  auto loaded = LoadSpec(dir);
  EXPECT_EQ(loaded.status().message(), dir + "/config.json: JSON nested deeper than 64 levels");
  unlink((dir + "/config.json").c_str());
  rmdir(dir.c_str());
}

TEST(OciSpecTest, ParseJsonBoundedLimitAndErrors) {
  EXPECT_TRUE(ParseJsonBounded(Nested(kMaxJsonDepth), "x").ok());
  EXPECT_EQ(ParseJsonBounded(Nested(kMaxJsonDepth + 1), "x").status().message(),
            "x: JSON nested deeper than 64 levels");
  std::string objects;  // objects count as levels too
  for (int i = 0; i < 3; ++i) objects += R"({"k":)";
  objects += "1}}}";
  EXPECT_TRUE(ParseJsonBounded(objects, "x", 3).ok());
  EXPECT_FALSE(ParseJsonBounded("[" + objects + "]", "x", 3).ok());
  auto bad = ParseJsonBounded("{\"a\":", "resources");
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.status().message().rfind("resources: invalid JSON: ", 0), 0u) << bad.status().message();
  EXPECT_EQ(*ParseJsonBounded(R"({"a":[1,{"b":null}]})", "x"), json::parse(R"({"a":[1,{"b":null}]})"));
}

TEST(OciSpecTest, Helpers) {
  EXPECT_EQ(RlimitResource("RLIMIT_NOFILE"), 7);
  EXPECT_EQ(RlimitResource("NOFILE"), -1);
  EXPECT_TRUE(IsKnownNamespaceType("cgroup"));
  EXPECT_FALSE(IsKnownNamespaceType("net"));
}

State SampleState() {
  State s;
  s.id = "c1";
  s.pid = 4242;
  s.status = "running";
  s.bundle = "/run/b";
  s.rootfs = "/run/b/rootfs";
  s.created = std::chrono::system_clock::time_point(std::chrono::seconds(1714558272)) +
              std::chrono::nanoseconds(123456700);
  return s;
}

TEST(OciStateTest, RuncShape) {
  State s = SampleState();
  EXPECT_EQ(StateJson(s),
            "{\n"
            "  \"ociVersion\": \"1.0.2-dev\",\n"
            "  \"id\": \"c1\",\n"
            "  \"pid\": 4242,\n"
            "  \"status\": \"running\",\n"
            "  \"bundle\": \"/run/b\",\n"
            "  \"rootfs\": \"/run/b/rootfs\",\n"
            "  \"created\": \"2024-05-01T10:11:12.1234567Z\",\n"
            "  \"owner\": \"\"\n"
            "}");
  s.annotations = {{"b", "2"}, {"a", "<&>"}};
  s.pid = 0;
  s.status = "stopped";
  EXPECT_EQ(StateJson(s),
            "{\n"
            "  \"ociVersion\": \"1.0.2-dev\",\n"
            "  \"id\": \"c1\",\n"
            "  \"pid\": 0,\n"
            "  \"status\": \"stopped\",\n"
            "  \"bundle\": \"/run/b\",\n"
            "  \"rootfs\": \"/run/b/rootfs\",\n"
            "  \"created\": \"2024-05-01T10:11:12.1234567Z\",\n"
            "  \"annotations\": {\n"
            "    \"a\": \"\\u003c\\u0026\\u003e\",\n"
            "    \"b\": \"2\"\n"
            "  },\n"
            "  \"owner\": \"\"\n"
            "}");
  // The output is valid JSON that round-trips the values.
  json j = json::parse(StateJson(s));
  EXPECT_EQ(j["annotations"]["a"], "<&>");
  EXPECT_EQ(StateJsonCompact(SampleState()),
            "{\"ociVersion\":\"1.0.2-dev\",\"id\":\"c1\",\"pid\":4242,\"status\":\"running\","
            "\"bundle\":\"/run/b\",\"rootfs\":\"/run/b/rootfs\","
            "\"created\":\"2024-05-01T10:11:12.1234567Z\",\"owner\":\"\"}");
  EXPECT_EQ(StateListJson({}), "null");
  EXPECT_EQ(StateListJson({SampleState(), SampleState()}).front(), '[');
}

TEST(OciStateTest, TimeAndEscaping) {
  using std::chrono::seconds;
  using std::chrono::system_clock;
  EXPECT_EQ(FormatRFC3339Nano(system_clock::time_point(seconds(0))), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRFC3339Nano(system_clock::time_point(seconds(1)) + std::chrono::milliseconds(500)),
            "1970-01-01T00:00:01.5Z");
  EXPECT_EQ(GoJsonString("a\"b\\c\n\t\x01"), "\"a\\\"b\\\\c\\n\\t\\u0001\"");
  EXPECT_EQ(GoJsonString("h\xc3\xa9"), "\"h\xc3\xa9\"");           // valid UTF-8 kept
  EXPECT_EQ(GoJsonString("bad\xff"), "\"bad\\ufffd\"");              // invalid -> U+FFFD
  EXPECT_EQ(GoJsonString("\xe2\x80\xa8"), "\"\\u2028\"");
}

}  // namespace
}  // namespace kata::oci
