// bundlefast: MappedFile, a read-only memory mapping of one whole file.
//
// Immutable after Open() and therefore thread-safe. It unmaps only in its
// destructor; callers share it through std::shared_ptr<const MappedFile> and
// every view handed out (to C++ or to NumPy) holds a reference, so a mapping
// outlives the reader that opened it for as long as any array still uses it
// (Arrow's MemoryMappedFile model).
#ifndef BUNDLEFAST_CSRC_MAPPED_FILE_H_
#define BUNDLEFAST_CSRC_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "byte_source.h"
#include "status.h"

namespace bundlefast {

class MappedFile : public ByteSource {
 public:
  // Maps `path` read-only. The file descriptor is closed once the mapping
  // exists, so no descriptor is held per shard (until a big Read, read_fd_). A zero-byte file is a valid,
  // empty mapping (mmap rejects length 0, so none is made). Errors: kIOError
  // with errno and the path (ENOENT for a missing file).
  static Status Open(const std::string& path, std::shared_ptr<const MappedFile>* out);

  ~MappedFile() override;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Never null, even for an empty file, so zero-length views have a valid address.
  const char* data() const { return data_; }
  uint64_t size() const override { return size_; }
  const std::string& path() const override { return path_; }
  const char* View(uint64_t offset, uint64_t n) const override {
    (void)n;
    return data_ + offset;
  }
  // madvise(MADV_DONTNEED) of the whole pages inside [data, data + n): for a
  // read-only shared mapping that only unmaps them from this process; the
  // page cache keeps them and a later access refaults them.
  void ReleaseView(const char* data, uint64_t n) const override;
  // Ranges of at least kMinPreadBytes are pread() straight into dst through
  // a descriptor of this same file (see read_fd_); smaller ones, and any the
  // descriptor cannot serve, are copied out of the mapping under
  // GuardMappedRead. A fault (the file shrank) is kIOError EIO naming the file.
  Status Read(uint64_t offset, uint64_t n, char* dst) const override;
  static constexpr uint64_t kMinPreadBytes = 64ull << 10;

 private:
  MappedFile(std::string path, const char* data, uint64_t size, bool mapped, uint64_t dev = 0, uint64_t ino = 0)
      : path_(std::move(path)), data_(data), size_(size), mapped_(mapped), dev_(dev), ino_(ino) {}

  const std::string path_;
  const char* const data_;
  const uint64_t size_;
  const bool mapped_;  // false for the empty-file case: nothing to munmap
  const uint64_t dev_;  // identity of the mapped file, for ReadFd()
  const uint64_t ino_;
  // A read-only descriptor of the mapped file for Read()'s pread(), opened on
  // the first big Read and kept until destruction (a descriptor per big read
  // costs open + fstat + close, ~5 us: noticeable over 10,000 mid-size
  // tensors). The path is opened again and must still name the file that was
  // mapped (same device and inode), so a file replaced since is never read;
  // -1 if it does not, and then copies use the mapping. pread() copies page
  // cache -> dst like memcpy does, but the source needs no page tables, no
  // file pages are added to the process's RSS, and a cold file is read with
  // read()'s readahead. Mappings that are only viewed never open one.
  int ReadFd() const;
  mutable std::once_flag read_fd_once_;
  mutable int read_fd_ = -1;
};

// pread() of exactly n bytes at `offset` of `fd` into dst, retrying short
// reads and EINTR. Errors: kIOError naming `path` (EIO if the file ended
// first: it shrank); dst is then partly written.
Status ReadAt(int fd, const std::string& path, uint64_t offset, char* dst, uint64_t n);
void CloseFd(int fd);

// The kIOError for bytes that are gone: `path` was truncated after it was opened.
Status ShrunkFileError(const std::string& path, const char* how);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_MAPPED_FILE_H_
