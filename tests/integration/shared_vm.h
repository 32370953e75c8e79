// A test fixture whose cases share one booted sandbox: booting is the slow
// part (seconds under TCG), creating containers in a running VM is not.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "harness.h"
#include "sandbox/container.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_config.h"

namespace kata::itest {

class SharedVmTest : public ::testing::Test {
 protected:
  // Call from SetUpTestSuite: boots the installed configuration's VM.
  static void BootSharedVm(const std::string& name) {
    tmp_ = new TempDir();
    auto cfg = config::Load();
    ASSERT_TRUE(cfg.ok()) << cfg.status().message();
    auto sc = sandbox::MakeSandboxConfig(cfg->config, UniqueId(name));
    ASSERT_TRUE(sc.ok()) << sc.status().message();
    auto sb = sandbox::Sandbox::Boot(*sc);
    ASSERT_TRUE(sb.ok()) << sb.status().message();
    sandbox_ = sb->release();
    id_ = sandbox_->id();
  }
  // Call from TearDownTestSuite: stops the VM and checks nothing is left.
  static void ShutDownSharedVm() {
    delete sandbox_;
    sandbox_ = nullptr;
    EXPECT_EQ(LeaksAfter(id_, 10), "");
    delete tmp_;
    tmp_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(sandbox_, nullptr) << "the shared VM did not boot"; }

  // A busybox container running `args` in the shared VM, stdout/stderr in
  // files (Output()); `edit` may change its config.json first.
  static std::unique_ptr<sandbox::Container> NewContainer(const std::string& name, const std::vector<std::string>& args,
                                                          const std::function<void(nlohmann::json&)>& edit = nullptr,
                                                          const std::string& stdin_path = "") {
    std::string bundle = tmp_->path() + "/" + name;
    MakeBundle(bundle, args);
    std::ifstream in(bundle + "/config.json");
    nlohmann::json spec = nlohmann::json::parse(in);
    if (edit) edit(spec);
    sandbox::StdioPaths io{stdin_path, bundle + "/stdout", bundle + "/stderr", false};
    for (const auto& p : {io.out, io.err}) close(open(p.c_str(), O_CREAT | O_WRONLY, 0644));
    auto c = sandbox::Container::Create(*sandbox_, name, bundle, spec, io);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? std::move(*c) : nullptr;
  }
  static std::string Output(const std::string& name, const char* stream = "stdout") {
    std::ifstream in(tmp_->path() + "/" + name + "/" + stream);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  static inline TempDir* tmp_ = nullptr;
  static inline sandbox::Sandbox* sandbox_ = nullptr;
  static inline std::string id_;
};

}  // namespace kata::itest
