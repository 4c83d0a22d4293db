#include "vae/memory_limit.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;

namespace {

// A fake /sys/fs/cgroup: files written under a temporary root.
class FakeCgroups : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("vae-cgroup-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void put(const std::string& rel, const std::string& text) {
    const fs::path p = root_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  std::string root() const { return root_.string(); }
  fs::path root_;
};

TEST_F(FakeCgroups, V2TakesTheTightestAncestorLessInactivePageCache) {
  put("a/memory.max", "1000000000\n");
  put("a/memory.current", "300000000\n");
  put("a/memory.stat", "anon 100\nfile 250000000\ninactive_file 100000000\n");
  put("a/b/memory.max", "max\n");
  put("a/b/memory.current", "200000000\n");
  const auto m = vae::cgroup_memory("0::/a/b\n", root());
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->file, root() + "/a/memory.max");
  EXPECT_EQ(m->limit, 1000000000u);
  EXPECT_EQ(m->used, 200000000u);  // inactive page cache is reclaimable: not counted
  EXPECT_EQ(m->room(), 800000000u);
  put("a/b/memory.max", "500000000\n");  // now the child binds: 300 MB free beats 800
  const auto child = vae::cgroup_memory("0::/a/b\n", root());
  ASSERT_TRUE(child.has_value());
  EXPECT_EQ(child->file, root() + "/a/b/memory.max");
  EXPECT_EQ(child->room(), 300000000u);
}

TEST_F(FakeCgroups, V1ReadsTheMemoryControllersLineAndIgnoresItsNoLimitValue) {
  put("memory/job/memory.limit_in_bytes", "209715200\n");
  put("memory/job/memory.usage_in_bytes", "104857600\n");
  put("memory/job/memory.stat", "cache 5\ntotal_inactive_file 4857600\n");
  put("memory/memory.limit_in_bytes", "9223372036854771712\n");  // v1's "no limit"
  const auto m = vae::cgroup_memory("5:cpu,cpuacct:/other\n4:memory:/job\n0::/\n", root());
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->limit, 209715200u);
  EXPECT_EQ(m->used, 100000000u);
  EXPECT_EQ(m->file, root() + "/memory/job/memory.limit_in_bytes");
}

TEST_F(FakeCgroups, NoFiniteLimitIsNone) {
  put("memory/memory.limit_in_bytes", "9223372036854771712\n");
  put("a/memory.max", "max\n");
  EXPECT_FALSE(vae::cgroup_memory("4:memory:/\n0::/a\n", root()).has_value());
  EXPECT_FALSE(vae::cgroup_memory("", root()).has_value());
  EXPECT_FALSE(vae::cgroup_memory("0::/a\n", root() + "/absent").has_value());
}

TEST_F(FakeCgroups, ANamespacedPathNotUnderTheMountReadsTheMountsOwnLimit) {
  // In a container with its own cgroup namespace the host path is not
  // mounted: the mount's root is the container's cgroup.
  put("memory.max", "123456789\n");
  put("memory.current", "23456789\n");
  const auto m = vae::cgroup_memory("0::/host/slice/container\n", root());
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->room(), 100000000u);
}

}  // namespace
