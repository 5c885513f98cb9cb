// bundlefast: MappedFile on POSIX (open + fstat + mmap, then close the fd).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mapped_file.h"

namespace bundlefast {

namespace {
// Address handed out for empty files: zero-length views still need a valid,
// non-null pointer (NumPy and the buffer protocol reject NULL).
const char kEmptyFile[1] = {0};

Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  return Status::IOError(path + ": " + what + " failed: " + std::strerror(err), err, path);
}

// Opens `path` for reading and checks it is a regular file. O_NONBLOCK keeps
// a FIFO planted under a checkpoint name from blocking open() forever (it has
// no effect on regular files); devices and sockets are refused as well.
Status OpenRegularFile(const std::string& path, int* fd_out, uint64_t* size_out) {
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
  return Status::OK();
}
}  // namespace

Status MappedFile::Open(const std::string& path, std::shared_ptr<const MappedFile>* out) {
  int fd;
  uint64_t size;
  BF_RETURN_IF_ERROR(OpenRegularFile(path, &fd, &size));
  if (size == 0) {
    ::close(fd);
    out->reset(new MappedFile(path, kEmptyFile, 0, false));
    return Status::OK();
  }
  if (size > static_cast<uint64_t>(SIZE_MAX)) {
    ::close(fd);
    return ErrnoStatus("mmap", path, EFBIG);
  }
  struct stat st;
  const bool have_id = ::fstat(fd, &st) == 0;
  void* p = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_SHARED, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps the file referenced
  if (p == MAP_FAILED) return ErrnoStatus("mmap", path, err);
  // dev 0 / ino 0 (fstat failed): OpenForRead() refuses, copies use the mapping.
  out->reset(new MappedFile(path, static_cast<const char*>(p), size, true,
                            have_id ? static_cast<uint64_t>(st.st_dev) : 0,
                            have_id ? static_cast<uint64_t>(st.st_ino) : 0));
  return Status::OK();
}

int MappedFile::OpenForRead() const {
  if (!mapped_ || (dev_ == 0 && ino_ == 0)) return -1;
  int fd;
  do {
    fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return -1;
  struct stat st;
  if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_dev) != dev_ ||
      static_cast<uint64_t>(st.st_ino) != ino_) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool ReadAt(int fd, uint64_t offset, char* dst, uint64_t n) {
  while (n > 0) {
    // Linux reads at most ~2 GiB per call; ask for no more than 1 GiB.
    const size_t want = n < (1ull << 30) ? static_cast<size_t>(n) : size_t{1} << 30;
    const ssize_t r = ::pread(fd, dst, want, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;  // error, or end of file: the file shrank
    dst += r;
    offset += static_cast<uint64_t>(r);
    n -= static_cast<uint64_t>(r);
  }
  return true;
}

void CloseFd(int fd) {
  if (fd >= 0) ::close(fd);
}

MappedFile::~MappedFile() {
  if (mapped_) ::munmap(const_cast<char*>(data_), static_cast<size_t>(size_));
}

void MappedFile::Advise(Advice advice, uint64_t offset, uint64_t n) const {
  if (!mapped_ || offset >= size_) return;
  if (n > size_ - offset) n = size_ - offset;
  // madvise needs a page-aligned start.
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t start = offset - offset % page;
  int flag = MADV_NORMAL;
  switch (advice) {
    case Advice::kNormal: flag = MADV_NORMAL; break;
    case Advice::kSequential: flag = MADV_SEQUENTIAL; break;
    case Advice::kWillNeed: flag = MADV_WILLNEED; break;
    case Advice::kRandom: flag = MADV_RANDOM; break;
  }
  (void)::madvise(const_cast<char*>(data_) + start, static_cast<size_t>(n + (offset - start)), flag);
}

Status ReadFileToString(const std::string& path, std::string* out) {
  int fd;
  uint64_t size;
  BF_RETURN_IF_ERROR(OpenRegularFile(path, &fd, &size));
  out->clear();
  out->resize(static_cast<size_t>(size));
  size_t done = 0;
  while (done < out->size()) {
    const ssize_t r = ::read(fd, &(*out)[done], out->size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int err = errno;
      ::close(fd);
      return ErrnoStatus("read", path, err);
    }
    if (r == 0) break;  // shrank since fstat: keep what is there
    done += static_cast<size_t>(r);
  }
  out->resize(done);
  ::close(fd);
  return Status::OK();
}

}  // namespace bundlefast
