// A host cache of container images as read-only ext4 disk images, one per
// stack of image layers ([runtime] rootfs_image_in_guest): the guest mounts
// the disk as its container's lower layer, so that looking up and reading
// the image's files never leaves the guest (sandbox/rootfs_image.h).
//
// Why ext4 and not EROFS: the guest kernel already has ext4 (block volumes),
// and e2fsprogs is in every Debian; mke2fs -d writes a tree into an image in
// a fraction of a second per 50 MB.
//
// An image is named by a digest of its layers' identities (path, device,
// inode, change time: layers are never changed once committed, and a layer
// made again at the same path is another inode), so two containers of one
// image share one file, and a new layer stack gets a new file.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace kata::sandbox {

class RootfsImageCache {
 public:
  // Images below `dir` (made 0700 if missing), at most `limit_bytes` of them
  // on disk once trimmed.
  RootfsImageCache(std::string dir, uint64_t limit_bytes) : dir_(std::move(dir)), limit_bytes_(limit_bytes) {}

  // The image of the overlay of `lowers` (top layer first, as overlay's
  // lowerdir): the cached one, or one built now. Built by mounting the
  // layers' overlay read-only in this process's mount namespace (the
  // service's own: a mount left by a killed builder dies with it) and
  // running mke2fs -d on it. Marks the image used now (its mtime); after a
  // build, trims the cache.
  Result<std::string> ImageOf(const std::vector<std::string>& lowers);

  // Removes the least recently used images until the cache fits its limit,
  // except `keep` and any used in the last `grace` (a sandbox may be about
  // to hand it to its VMM by path; one in use by a VM is safe to remove:
  // the VMM holds it open), and build directories of builders dead for an
  // hour. What it removed, for the log.
  std::vector<std::string> Trim(const std::string& keep,
                                std::chrono::seconds grace = std::chrono::minutes(10)) const;

  // The image's file name for `lowers` ("<sha256>.img"), or an error naming
  // a layer that cannot be stat()ed.
  static Result<std::string> NameFor(const std::vector<std::string>& lowers);

 private:
  Result<std::string> Build(const std::vector<std::string>& lowers, const std::string& name);

  std::string dir_;
  uint64_t limit_bytes_;
};

}  // namespace kata::sandbox
