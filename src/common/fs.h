// Small file-system helpers with Status errors that name the path.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kata::fs {

// The file's contents; with `max_bytes`, at most about that many (files a
// guest or another user controls are read bounded).
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = SIZE_MAX);
// Writes via a temp file in the same directory + rename, so readers never see
// a half-written file (state files, pid files). Safe in a directory others
// can write: the temp file has an unpredictable name and is created with
// O_EXCL|O_NOFOLLOW (a planted file or symlink is never written through), and
// a symlink at `path` is replaced, not followed. (Symlinks among the
// directory's own components are followed: the caller named that path.)
// `mode` is masked by the umask, as open()'s is.
Status WriteFileAtomic(const std::string& path, const std::string& data, int mode = 0644);
// One write() of `value` to an existing file, as cgroup and /proc files want.
Status WriteExisting(const std::string& path, const std::string& value);
Status MkdirAll(const std::string& path, int mode = 0755);
// Removes a tree without crossing mount points (a bind-mounted rootfs under a
// state dir must never be emptied by cleanup); fails if a mount is in the way.
Status RemoveAll(const std::string& path);
// Whether something is at `path` (a dangling symlink counts), or with
// `follow_symlinks` whether what it leads to exists.
bool Exists(const std::string& path, bool follow_symlinks = false);
// The names in a directory, without "." and "..", in readdir's order.
Result<std::vector<std::string>> ListDir(const std::string& path);
// A block device node (a symlink to one counts).
bool IsBlockDevice(const std::string& path);
// write() until all of `data` is out (EINTR retried); false on an error or EOF.
bool WriteAll(int fd, std::string_view data);
// The same for a socket, with MSG_NOSIGNAL: a peer that went away is an
// error (errno EPIPE), not a SIGPIPE. False with errno set.
bool SendAll(int fd, std::string_view data);
bool IsMountPoint(const std::string& path);
// Lazily unmounts every mount at or below `prefix`, deepest first (cleanup
// backstop: a half-created container must not leave a bind mount behind).
Status UnmountAllUnder(const std::string& prefix);
// Polls until `path` exists or the timeout passes (sockets created by a child).
bool WaitForPath(const std::string& path, std::chrono::milliseconds timeout);
std::string Dirname(const std::string& path);
std::string Basename(const std::string& path);
std::string JoinPath(const std::string& a, const std::string& b);
Result<std::string> AbsolutePath(const std::string& path);

}  // namespace kata::fs
