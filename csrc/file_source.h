// bundlefast: reading local files with plain descriptors (open, pread), and
// FileSource, the ByteSource that reads a file that way and never maps it.
#ifndef BUNDLEFAST_CSRC_FILE_SOURCE_H_
#define BUNDLEFAST_CSRC_FILE_SOURCE_H_

#include <cstdint>
#include <string>

#include "byte_source.h"
#include "status.h"

namespace bundlefast {

// Opens `path` read-only and checks that it is a regular file (a FIFO,
// device or socket is refused without blocking; a directory is EISDIR).
// Errors: kIOError with errno and the path.
Status OpenRegularFile(const std::string& path, int* fd_out, uint64_t* size_out, uint64_t* dev_out = nullptr,
                       uint64_t* ino_out = nullptr);

// pread() of exactly n bytes at `offset` of `fd` into dst, retrying short
// reads and EINTR. Errors: kIOError naming `path` (ShrunkFileError if the
// file ended first); dst is then partly written.
Status ReadAt(int fd, const std::string& path, uint64_t offset, char* dst, uint64_t n);
void CloseFd(int fd);

// The kIOError (EIO) for bytes that are gone: `path` was truncated after it
// was opened; `how` says how we noticed ("SIGBUS", "short read").
Status ShrunkFileError(const std::string& path, const char* how);

// A file read with pread() through one descriptor held open for the source's
// life: its size is the size at open, and bytes are copied out when read.
class FileSource : public ByteSource {
 public:
  static Status Open(const std::string& path, std::shared_ptr<const ByteSource>* out);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  const std::string& path() const override { return path_; }
  uint64_t size() const override { return size_; }
  Status Read(uint64_t offset, uint64_t n, char* dst) const override {
    return ReadAt(fd_, path_, offset, dst, n);
  }

 private:
  FileSource(std::string path, int fd, uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}
  const std::string path_;
  const int fd_;
  const uint64_t size_;
};

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_FILE_SOURCE_H_
