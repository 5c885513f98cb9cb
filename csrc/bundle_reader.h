// bundlefast: BundleReader, one opened checkpoint (its index and data shards).
#ifndef BUNDLEFAST_CSRC_BUNDLE_READER_H_
#define BUNDLEFAST_CSRC_BUNDLE_READER_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bundle_entry.h"
#include "mapped_file.h"
#include "status.h"
#include "string_tensor.h"

namespace bundlefast {

// Opens `P.index`, decodes every entry once (a single pass over the table),
// and maps data shards read-only on first use. Damage to one entry is recorded
// against that entry and reported only when it is used; damage to the footer,
// a block or the header fails Open().
//
// Thread-safety: after Open() every method may be called from any thread;
// shard mapping is serialized by a mutex, everything else is immutable.
class BundleReader {
 public:
  // `prefix` is the checkpoint prefix P (the Python layer resolves directories,
  // `checkpoint` files, and `.index` paths first). Errors: kIOError (ENOENT if
  // P.index is missing), kCorruption, kChecksumMismatch, kNotSupported (V1
  // checkpoints, newer format versions).
  static Status Open(const std::string& prefix, std::unique_ptr<BundleReader>* out);

  const std::string& prefix() const { return prefix_; }
  const std::string& index_path() const { return index_path_; }
  const BundleHeader& header() const { return header_; }
  // True if the data bytes are in the other byte order than this machine's.
  bool needs_byte_swap() const { return needs_byte_swap_; }

  // Entries in key order, the header excluded.
  size_t size() const { return keys_.size(); }
  const std::string& key(size_t i) const { return keys_[i]; }
  // The decoded entry, or the error decoding it gave.
  Status entry(size_t i, const BundleEntry** out) const;
  // The position of `key`, or -1.
  int64_t Find(std::string_view key) const;

  // P.data-%05d-of-%05d.
  std::string DataPath(int32_t shard) const;
  // The mapping of shard `shard`, made on first use. Errors: kIOError naming the file.
  Status Shard(int32_t shard, std::shared_ptr<const MappedFile>* out);
  // Forgets the shard mappings this reader holds. Views handed out keep theirs.
  void Close();

  // A tensor's bytes, validated: dtype readable, size consistent with shape
  // and dtype, and the byte range inside the shard file.
  struct Payload {
    const BundleEntry* entry = nullptr;
    std::shared_ptr<const MappedFile> file;
    const char* data = nullptr;  // never null; valid while `file` lives
    uint64_t num_elements = 0;
  };
  // Errors: kNotSupported for dtypes that cannot be returned (VARIANT,
  // RESOURCE, unknown values) and partitioned entries; kCorruption for sizes or
  // ranges that do not add up; kIOError for a missing shard.
  Status Locate(size_t i, Payload* out);

  // Verifies the stored CRC of fixed-width payloads, `threads` at a time, and
  // returns the first mismatch as kChecksumMismatch naming file, key, offset,
  // size and both CRCs. String payloads are verified by DecodeStrings.
  Status VerifyPayloads(const std::vector<size_t>& indices, const std::vector<Payload>& payloads, int threads) const;

  // Decodes the string tensor at `payload` (see DecodeStringTensor), with the
  // file and key in any error message.
  Status DecodeStrings(size_t i, const Payload& payload, bool verify, std::vector<StringRef>* out) const;

  // "<file>: '<key>' ..." prefix for messages about entry i.
  std::string Where(size_t i) const;

 private:
  BundleReader() = default;

  std::string prefix_;
  std::string index_path_;
  BundleHeader header_;
  bool needs_byte_swap_ = false;
  std::vector<std::string> keys_;
  std::vector<BundleEntry> entries_;
  std::unordered_map<size_t, Status> entry_errors_;  // rare: only damaged entries

  std::mutex shard_mu_;
  std::vector<std::shared_ptr<const MappedFile>> shards_;  // guarded by shard_mu_
};

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BUNDLE_READER_H_
