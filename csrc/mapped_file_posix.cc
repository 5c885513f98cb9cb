// bundlefast: MappedFile on POSIX (open + fstat + mmap, then close the fd).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "file_source.h"
#include "mapped_file.h"
#include "sigbus_guard.h"

namespace bundlefast {

namespace {
// Address handed out for empty files: zero-length views still need a valid,
// non-null pointer (NumPy and the buffer protocol reject NULL).
const char kEmptyFile[1] = {0};
}  // namespace

Status MappedFile::Open(const std::string& path, std::shared_ptr<const MappedFile>* out) {
  int fd;
  uint64_t size, dev, ino;
  BF_RETURN_IF_ERROR(OpenRegularFile(path, &fd, &size, &dev, &ino));
  if (size == 0) {
    ::close(fd);
    out->reset(new MappedFile(path, kEmptyFile, 0, false));
    return Status::OK();
  }
  if (size > static_cast<uint64_t>(SIZE_MAX)) {
    ::close(fd);
    return Status::IOError(path + ": mmap failed: " + std::strerror(EFBIG), EFBIG, path);
  }
  void* p = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_SHARED, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps the file referenced
  if (p == MAP_FAILED) return Status::IOError(path + ": mmap failed: " + std::strerror(err), err, path);
  out->reset(new MappedFile(path, static_cast<const char*>(p), size, true, dev, ino));
  return Status::OK();
}

Status OpenMappedSource(const std::string& path, std::shared_ptr<const ByteSource>* out) {
  std::shared_ptr<const MappedFile> file;
  BF_RETURN_IF_ERROR(MappedFile::Open(path, &file));
  *out = std::move(file);
  return Status::OK();
}

int MappedFile::ReadFd() const {
  std::call_once(read_fd_once_, [this] {
    int fd;
    uint64_t size, dev, ino;
    if (!mapped_ || (dev_ == 0 && ino_ == 0) || !OpenRegularFile(path_, &fd, &size, &dev, &ino).ok()) return;
    if (dev != dev_ || ino != ino_) {
      CloseFd(fd);
      return;
    }
    read_fd_ = fd;
  });
  return read_fd_;
}

Status MappedFile::Read(uint64_t offset, uint64_t n, char* dst) const {
  // Any pread failure (e.g. a short read: the file shrank) retries from the
  // mapping, whose guard reports it.
  if (n == 0) return Status::OK();
  if (n >= kMinPreadBytes) {
    const int fd = ReadFd();
    if (fd >= 0 && ReadAt(fd, path_, offset, dst, n).ok()) return Status::OK();
  }
  const char* src = data_ + offset;
  if (!GuardMappedRead(src, n, [&] { std::memcpy(dst, src, static_cast<size_t>(n)); })) {
    return ShrunkFileError(path_, "SIGBUS");
  }
  return Status::OK();
}

void MappedFile::ReleaseView(const char* data, uint64_t n) const {
  if (!mapped_ || data < data_ || n == 0 || static_cast<uint64_t>(data - data_) > size_ - 1) return;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t start = static_cast<uint64_t>(data - data_);
  const uint64_t end = start + std::min(n, size_ - start);
  const uint64_t first = (start + page - 1) / page * page;  // whole pages only: a neighbour's
  const uint64_t last = end / page * page;                  // view may share the edge pages
  if (first >= last) return;
  // Cannot fail on a valid range of our own mapping; nothing to do if it did.
  (void)::madvise(const_cast<char*>(data_) + first, static_cast<size_t>(last - first), MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  CloseFd(read_fd_);
  if (mapped_) ::munmap(const_cast<char*>(data_), static_cast<size_t>(size_));
}

}  // namespace bundlefast
