// kata-runtime's verbs on a container id its --root does not know, through
// the real command table (cli/commands.h): runc's answers, and the id named.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/fs.h"

namespace kata::cli {
namespace {

struct Outcome {
  int exit_code = 0;
  std::string err;
};

class CliUnknownContainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-cli-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }

  void TearDown() override { EXPECT_TRUE(fs::RemoveAll(root_).ok()); }

  // kata-runtime --root <root_> <args...>, its stderr captured.
  Outcome Run(std::vector<std::string> args) {
    GlobalOptions g;
    Outcome o;
    CLI::App app{"kata-runtime", "kata-runtime"};
    app.add_option("--root", g.root);
    AddStateCommand(app, g, &o.exit_code);
    AddKillCommand(app, g, &o.exit_code);
    AddDeleteCommand(app, g, &o.exit_code);
    args.insert(args.begin(), {"kata-runtime", "--root", root_});
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    ::testing::internal::CaptureStderr();
    app.parse(static_cast<int>(argv.size()), argv.data());
    o.err = ::testing::internal::GetCapturedStderr();
    return o;
  }

  std::string root_;
};

TEST_F(CliUnknownContainerTest, StateKillAndDeleteFailNamingTheId) {
  for (const std::vector<std::string>& verb :
       std::vector<std::vector<std::string>>{{"state", "ghost"}, {"kill", "ghost", "KILL"}, {"delete", "ghost"}}) {
    Outcome o = Run(verb);
    EXPECT_EQ(o.exit_code, 1) << verb[0];
    EXPECT_NE(o.err.find("container ghost does not exist"), std::string::npos) << verb[0] << ": " << o.err;
  }
}

TEST_F(CliUnknownContainerTest, ForcedDeleteOfAnUnknownIdSucceedsAsRuncs) {
  Outcome o = Run({"delete", "--force", "ghost"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_FALSE(fs::Exists(root_ + "/ghost"));
}

TEST_F(CliUnknownContainerTest, AnIdThatIsNotAPathComponentIsRefused) {
  Outcome o = Run({"state", "../escape"});
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("../escape"), std::string::npos) << o.err;
}

}  // namespace
}  // namespace kata::cli
