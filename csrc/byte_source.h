// bundlefast: ByteSource, where the core's bytes come from.
//
// The format code does no I/O of its own (leveldb reads tables through
// RandomAccessFile::Read; safetensors deserializes a &[u8]): it asks a
// ByteSource for ranges. A mapped file is one that can also lend its memory
// (View), so tensors can be returned without a copy; a file read with pread()
// is one that cannot; a source whose ranges are filled by a function (a Python
// fsspec file, a cache, a test) is a third. Verification, string decoding,
// region assembly and copies work over all of them (read_plan.h).
#ifndef BUNDLEFAST_CSRC_BYTE_SOURCE_H_
#define BUNDLEFAST_CSRC_BYTE_SOURCE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "status.h"

namespace bundlefast {

// A read-only, fixed-size run of bytes. Thread-safety: every method may be
// called from any thread at once.
class ByteSource {
 public:
  virtual ~ByteSource() = default;

  // The file (or URL) the bytes come from, for messages.
  virtual const std::string& path() const = 0;
  // Its size in bytes, fixed when it was opened.
  virtual uint64_t size() const = 0;
  // Copies bytes [offset, offset + n) into dst[0, n). REQUIRES: the range lies
  // inside [0, size()). Errors: kIOError naming path() (EIO if the file has
  // shrunk since it was opened); dst is then partly written.
  virtual Status Read(uint64_t offset, uint64_t n, char* dst) const = 0;
  // Bytes [offset, offset + n) in memory, valid while this source lives, or
  // nullptr if this source keeps none (then use Read). REQUIRES: the range lies
  // inside [0, size()). Reads of a view can fault if the file underneath shrinks:
  // read it under GuardMappedRead (sigbus_guard.h).
  virtual const char* View(uint64_t offset, uint64_t n) const {
    (void)offset;
    (void)n;
    return nullptr;
  }
  // The caller is done with [data, data + n), a range View returned: a mapping
  // may take the pages that range alone covers out of the process (they stay
  // in the page cache; a later read of them faults them back in, so views
  // still alive over the same bytes stay valid). Without it, a long-lived
  // reader's process keeps every page it ever viewed resident, and RSS-based
  // memory managers (a Dask nanny) see a worker grow to the size of the file.
  virtual void ReleaseView(const char* data, uint64_t n) const {
    (void)data;
    (void)n;
  }
};

// How a reader opens the files of a checkpoint (index and data shards).
// Errors: kIOError with errno and the path (ENOENT for a missing file).
using SourceOpener = std::function<Status(const std::string& path, std::shared_ptr<const ByteSource>* out)>;

// Opens `path` as a memory mapping (MappedFile: it can View).
Status OpenMappedSource(const std::string& path, std::shared_ptr<const ByteSource>* out);
// Opens `path` for pread() and keeps the descriptor; never maps it. For network
// filesystems (page faults on a mapping are slow there) and files that may
// change underneath: bytes are copied out at the moment they are read.
Status OpenFileSource(const std::string& path, std::shared_ptr<const ByteSource>* out);

// A source whose ranges are filled by `read` (e.g. ranged reads from remote
// storage, done by Python). `read(offset, n, dst)` must fill dst[0, n) or
// return an error; it may be called from several threads at once.
class FunctionSource : public ByteSource {
 public:
  using ReadFn = std::function<Status(uint64_t offset, uint64_t n, char* dst)>;
  FunctionSource(std::string path, uint64_t size, ReadFn read)
      : path_(std::move(path)), size_(size), read_(std::move(read)) {}
  const std::string& path() const override { return path_; }
  uint64_t size() const override { return size_; }
  Status Read(uint64_t offset, uint64_t n, char* dst) const override { return read_(offset, n, dst); }

 private:
  const std::string path_;
  const uint64_t size_;
  const ReadFn read_;
};

// Reads all of `source` into `*out` (the `.index`: small, parsed once, and a
// private copy cannot change underneath us, unlike a mapping).
Status ReadAll(const ByteSource& source, std::string* out);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BYTE_SOURCE_H_
