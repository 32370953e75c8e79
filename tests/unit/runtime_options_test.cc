// containerd's runtime options (ctr run --runtime-config-path, the CRI
// plugin's ConfigPath) choose the shim's configuration file, as in Kata.
#include "shim/runtime_options.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/fs.h"
#include "runtimeoptions.pb.h"

namespace kata {
namespace {

wkt::Any Options(const std::string& type_url, const std::string& config_path) {
  runtimeoptions::v1::Options o;
  o.set_config_path(config_path);
  wkt::Any any;
  any.set_type_url(type_url);
  any.set_value(o.SerializeAsString());
  return any;
}

class RuntimeOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-runtime-options.XXXXXX";
    dir_ = mkdtemp(tmpl);
    conf_ = dir_ + "/configuration-image.toml";
    std::ofstream(conf_) << "[runtime]\nrootfs_writes_in_guest = true\n";
  }
  void TearDown() override { (void)fs::RemoveAll(dir_); }
  std::string dir_, conf_;
};

TEST_F(RuntimeOptionsTest, ConfigPathLoadsThatFile) {
  for (const char* url : {"runtimeoptions.v1.Options", "type.googleapis.com/runtimeoptions.v1.Options"}) {
    auto c = shim::ConfigFromRuntimeOptions(Options(url, conf_));
    ASSERT_TRUE(c.ok()) << c.status().message();
    ASSERT_TRUE(c->has_value()) << url;
    EXPECT_EQ((*c)->path, conf_);
    EXPECT_TRUE((*c)->config.runtime.rootfs_writes_in_guest);
  }
}

TEST_F(RuntimeOptionsTest, NoOptionsOtherTypesAndAnEmptyPathChooseNothing) {
  for (const wkt::Any& any : {wkt::Any(), Options("containerd.runc.v1.Options", conf_),
                              Options("runtimeoptions.v1.Options", "")}) {
    auto c = shim::ConfigFromRuntimeOptions(any);
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_FALSE(c->has_value()) << any.type_url();
  }
}

TEST_F(RuntimeOptionsTest, AMissingOrBadFileIsAnErrorNamingIt) {
  auto missing = shim::ConfigFromRuntimeOptions(Options("runtimeoptions.v1.Options", dir_ + "/none.toml"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(dir_ + "/none.toml"), std::string::npos) << missing.status().message();
  EXPECT_NE(missing.status().message().find("ConfigPath"), std::string::npos) << missing.status().message();
  std::ofstream(conf_) << "[runtime]\nrootfs_image_in_guest = true\n";
  auto bad = shim::ConfigFromRuntimeOptions(Options("runtimeoptions.v1.Options", conf_));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("rootfs_image_in_guest"), std::string::npos) << bad.status().message();
  wkt::Any garbage;
  garbage.set_type_url("runtimeoptions.v1.Options");
  garbage.set_value("\xff\xff\xff");
  EXPECT_FALSE(shim::ConfigFromRuntimeOptions(garbage).ok());
}

}  // namespace
}  // namespace kata
