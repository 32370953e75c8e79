#include "agent/guest_volumes.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include <charconv>
#include <chrono>
#include <thread>

#include "agent/block_devices.h"
#include "common/fs.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace kata::agent {
namespace {

// ext4's online resize (what resize2fs does on a mounted file system): the
// new block count. The kernel's ABI (fs/ext4/ext4.h); no uapi header has it.
constexpr unsigned long kExt4ResizeFs = _IOW('f', 16, uint64_t);

// XFS's growfs (what xfs_growfs does): its geometry for the block size and
// inode percentage, then the new data block count. The kernel's ABI
// (fs/xfs/libxfs/xfs_fs.h); Debian's xfslibs-dev has it, as a whole
// library's headers, for two structs.
struct XfsGeometryV1 {
  uint32_t blocksize, rtextsize, agblocks, agcount, logblocks, sectsize, inodesize, imaxpct;
  uint64_t datablocks, rtblocks, rtextents, logstart;
  unsigned char uuid[16];
  uint32_t sunit, swidth;
  int32_t version;
  uint32_t flags, logsectsize, rtsectsize, dirblocksize;
};
struct XfsGrowData {
  uint64_t newblocks;
  uint32_t imaxpct;
};
constexpr unsigned long kXfsGeometryV1 = _IOR('X', 100, XfsGeometryV1);
constexpr unsigned long kXfsGrowData = _IOW('X', 110, XfsGrowData);
constexpr long kXfsMagic = 0x58465342;  // "XFSB"

// The capacity of the disk holding the file system of `dev`, in bytes.
Result<uint64_t> DiskBytes(dev_t dev, const std::string& sys_dev_block) {
  std::string file = sys_dev_block + "/" + std::to_string(major(dev)) + ":" + std::to_string(minor(dev)) + "/size";
  ASSIGN_OR_RETURN(std::string text, fs::ReadFile(file, 64));
  std::string digits = Trim(text);
  uint64_t sectors = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), sectors);
  if (ec != std::errc() || end != digits.data() + digits.size()) {
    return Error(Code::kInternal, file + " is not a number: " + digits);
  }
  return sectors * 512;
}

Status WaitForDisk(dev_t dev, uint64_t size, const std::string& sys_dev_block, int wait_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    ASSIGN_OR_RETURN(uint64_t have, DiskBytes(dev, sys_dev_block));
    if (have >= size) return Status::Ok();
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error(Code::kFailedPrecondition, "the disk is " + std::to_string(have) + " bytes, not the " +
                                                  std::to_string(size) + " asked for: grow the disk first");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Status GrowExt4(int dir, const std::string& guest_path, uint64_t blocks) {
  // The kernel compares with the file system's own block count (statfs's
  // leaves its overhead out): the same size is a no-op, a smaller one EINVAL.
  if (ioctl(dir, kExt4ResizeFs, &blocks) == 0) return Status::Ok();
  if (errno == EINVAL) {
    return Error(Code::kInvalidArgument, "volume " + guest_path + " cannot be shrunk: ext4 volumes only grow");
  }
  if (errno == EPERM) return ErrnoError("grow ext4 volume " + guest_path + " (needs CAP_SYS_RESOURCE)");
  return ErrnoError("grow ext4 volume " + guest_path);
}

Status GrowXfs(int dir, const std::string& guest_path, uint64_t size, dev_t dev, const std::string& sys_dev_block,
               int wait_ms) {
  XfsGeometryV1 geo{};
  if (ioctl(dir, kXfsGeometryV1, &geo) != 0) return ErrnoError("xfs geometry of volume " + guest_path);
  if (geo.blocksize == 0) return Error(Code::kInternal, "xfs volume " + guest_path + " reports a block size of 0");
  XfsGrowData grow{size / geo.blocksize, geo.imaxpct};
  if (grow.newblocks < geo.datablocks) {
    return Error(Code::kInvalidArgument, "volume " + guest_path + " cannot be shrunk: xfs volumes only grow");
  }
  if (grow.newblocks == geo.datablocks) return Status::Ok();
  RETURN_IF_ERROR(WaitForDisk(dev, grow.newblocks * geo.blocksize, sys_dev_block, wait_ms).Wrap("grow volume " + guest_path));
  if (ioctl(dir, kXfsGrowData, &grow) != 0) return ErrnoError("grow xfs volume " + guest_path);
  return Status::Ok();
}

}  // namespace

Status CheckVolumePath(const std::string& guest_path, const std::string& storage_dir) {
  if (!IsBlockVolumePath(guest_path, storage_dir)) {
    return Error(Code::kInvalidArgument,
                 "volume path " + guest_path + " is not a block volume's (" + storage_dir + "/<container>/<name>)");
  }
  if (!fs::IsMountPoint(guest_path)) {
    return Error(Code::kNotFound, "no volume is mounted at " + guest_path);
  }
  return Status::Ok();
}

Result<VolumeFigures> VolumeUsage(const std::string& guest_path) {
  struct statvfs s{};
  if (statvfs(guest_path.c_str(), &s) != 0) return ErrnoError("statvfs " + guest_path);
  VolumeFigures f;
  f.bytes_total = uint64_t(s.f_blocks) * s.f_frsize;
  f.bytes_available = uint64_t(s.f_bavail) * s.f_frsize;
  f.bytes_used = uint64_t(s.f_blocks - s.f_bfree) * s.f_frsize;
  f.inodes_total = s.f_files;
  f.inodes_available = s.f_favail;
  f.inodes_used = s.f_files - s.f_ffree;
  return f;
}

Status GrowVolume(const std::string& guest_path, uint64_t size, const std::string& sys_dev_block, int wait_ms) {
  UniqueFd dir(open(guest_path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) return ErrnoError("open volume " + guest_path);
  struct statfs fsinfo{};
  struct stat st{};
  if (fstatfs(dir.get(), &fsinfo) != 0 || fstat(dir.get(), &st) != 0) return ErrnoError("stat volume " + guest_path);
  if (fsinfo.f_type == kXfsMagic) return GrowXfs(dir.get(), guest_path, size, st.st_dev, sys_dev_block, wait_ms);
  if (fsinfo.f_type != EXT4_SUPER_MAGIC) {
    return Error(Code::kUnimplemented, "volume " + guest_path + ": only ext4 and xfs volumes can be grown");
  }
  uint64_t blocks = size / fsinfo.f_bsize;
  RETURN_IF_ERROR(WaitForDisk(st.st_dev, blocks * fsinfo.f_bsize, sys_dev_block, wait_ms).Wrap("grow volume " + guest_path));
  return GrowExt4(dir.get(), guest_path, blocks);
}

}  // namespace kata::agent
