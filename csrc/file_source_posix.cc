// bundlefast: descriptors, pread() and FileSource on POSIX.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "file_source.h"

namespace bundlefast {

namespace {
Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  return Status::IOError(path + ": " + what + " failed: " + std::strerror(err), err, path);
}
}  // namespace

// O_NONBLOCK keeps a FIFO planted under a checkpoint name from blocking
// open() forever (it has no effect on regular files).
Status OpenRegularFile(const std::string& path, int* fd_out, uint64_t* size_out, uint64_t* dev_out,
                       uint64_t* ino_out) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoStatus("open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus("fstat", path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    if (S_ISDIR(st.st_mode)) return ErrnoStatus("open", path, EISDIR);
    return Status::IOError(path + ": not a regular file (a FIFO, device or socket cannot hold checkpoint data)",
                           EINVAL, path);
  }
  *fd_out = fd;
  *size_out = static_cast<uint64_t>(st.st_size);
  if (dev_out) *dev_out = static_cast<uint64_t>(st.st_dev);
  if (ino_out) *ino_out = static_cast<uint64_t>(st.st_ino);
  return Status::OK();
}

Status ShrunkFileError(const std::string& path, const char* how) {
  return Status::IOError(path + ": the file was truncated after it was opened (" + how + ")", EIO, path);
}

Status ReadAt(int fd, const std::string& path, uint64_t offset, char* dst, uint64_t n) {
  while (n > 0) {
    // Linux reads at most ~2 GiB per call; ask for no more than 1 GiB.
    const size_t want = n < (1ull << 30) ? static_cast<size_t>(n) : size_t{1} << 30;
    const ssize_t r = ::pread(fd, dst, want, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoStatus("pread", path, errno);
    if (r == 0) return ShrunkFileError(path, "short read");
    dst += r;
    offset += static_cast<uint64_t>(r);
    n -= static_cast<uint64_t>(r);
  }
  return Status::OK();
}

void CloseFd(int fd) {
  if (fd >= 0) ::close(fd);
}

Status FileSource::Open(const std::string& path, std::shared_ptr<const ByteSource>* out) {
  int fd;
  uint64_t size;
  BF_RETURN_IF_ERROR(OpenRegularFile(path, &fd, &size));
  out->reset(new FileSource(path, fd, size));
  return Status::OK();
}

FileSource::~FileSource() { CloseFd(fd_); }

Status OpenFileSource(const std::string& path, std::shared_ptr<const ByteSource>* out) {
  return FileSource::Open(path, out);
}

Status ReadAll(const ByteSource& source, std::string* out) {
  out->assign(static_cast<size_t>(source.size()), '\0');
  return source.Read(0, source.size(), out->data());
}

}  // namespace bundlefast
