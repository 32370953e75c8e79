// Shared by the launcher unit tests (container_launch_test, container_security_test):
// a throwaway container rootfs holding the host's static busybox, and the
// small fd/wait helpers both need. Root only; the tests skip otherwise.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace kata::agent::test_util {

inline std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// waitpid, retried on EINTR; `flags` e.g. __WALL for a child of a clone().
inline int WaitStatus(pid_t pid, int flags = 0) {
  int status = 0;
  while (waitpid(pid, &status, flags) < 0 && errno == EINTR) {
  }
  return status;
}

// Makes <tmp>/<name>-XXXXXX/rootfs with /bin (busybox + an applet symlink each),
// /etc/passwd (root and "user" 1000 with home `user_home`), /proc, /dev, /sys,
// /tmp (1777) and `extra_dirs`. Returns the base dir (rootfs is base + "/rootfs").
// The base is 0755: a user-namespace root (host uid 100000) must traverse it.
inline std::string MakeBusyboxRootfs(const std::string& name, const std::vector<std::string>& extra_dirs = {},
                                     const std::string& user_home = "/tmp") {
  std::string tmpl = "/tmp/" + name + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << tmpl;
    return "";
  }
  std::string base = buf.data();
  chmod(base.c_str(), 0755);
  std::string rootfs = base + "/rootfs";
  std::vector<std::string> dirs = {"", "/bin", "/etc", "/proc", "/dev", "/sys", "/tmp"};
  dirs.insert(dirs.end(), extra_dirs.begin(), extra_dirs.end());
  for (const std::string& d : dirs) EXPECT_EQ(mkdir((rootfs + d).c_str(), 0755), 0) << d;
  chmod((rootfs + "/tmp").c_str(), 01777);
  EXPECT_EQ(system(("cp /bin/busybox " + rootfs + "/bin/busybox && for a in $(/bin/busybox --list); do "
                    "[ $a = busybox ] || ln -s busybox " + rootfs + "/bin/$a; done").c_str()),
            0);
  std::ofstream(rootfs + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::" << user_home
                                        << ":/bin/sh\n";
  return base;
}

}  // namespace kata::agent::test_util
