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
#include <string>

#include "status.h"

namespace bundlefast {

class MappedFile {
 public:
  // Maps `path` read-only. The file descriptor is closed once the mapping
  // exists, so no descriptor is held per shard. A zero-byte file is a valid,
  // empty mapping (mmap rejects length 0, so none is made). Errors: kIOError
  // with errno and the path (ENOENT for a missing file).
  static Status Open(const std::string& path, std::shared_ptr<const MappedFile>* out);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Never null, even for an empty file, so zero-length views have a valid address.
  const char* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

  enum class Advice { kNormal, kSequential, kWillNeed, kRandom };
  // Best-effort page-cache hint for [offset, offset + n); errors are ignored
  // because a hint can only change speed, never results.
  void Advise(Advice advice, uint64_t offset, uint64_t n) const;

 private:
  MappedFile(std::string path, const char* data, uint64_t size, bool mapped)
      : path_(std::move(path)), data_(data), size_(size), mapped_(mapped) {}

  const std::string path_;
  const char* const data_;
  const uint64_t size_;
  const bool mapped_;  // false for the empty-file case: nothing to munmap
};

// Reads the whole file at `path` into `*out` with ordinary reads (used for the
// `.index`, which is small and parsed once: a private copy cannot be changed
// or truncated underneath us, unlike a mapping). Errors: kIOError.
Status ReadFileToString(const std::string& path, std::string* out);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_MAPPED_FILE_H_
