// bundlefast: BundleWriter, which writes a checkpoint (P.index + data shards)
// that TensorFlow reads back bit for bit, and replaces an existing one safely.
#ifndef BUNDLEFAST_CSRC_BUNDLE_WRITER_H_
#define BUNDLEFAST_CSRC_BUNDLE_WRITER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bundle_entry.h"
#include "file_writer.h"
#include "slices.h"
#include "status.h"

namespace bundlefast {

struct BundleWriterOptions {
  // Payloads start at multiples of this many bytes (zero padding, counted in
  // neither size nor CRC). 1 packs them as TF's SaveV2 does.
  uint64_t alignment = 1;
  // A new shard starts before a payload that would take the current one past
  // this many bytes (a payload bigger than the limit gets a shard of its own).
  // 0: everything in one shard.
  uint64_t max_shard_bytes = 0;
  // Payload bytes are copied (and checksummed) into a buffer of this size,
  // written with one call when full: the writer's only memory that grows with
  // the data is this buffer, whatever the checkpoint's size.
  size_t buffer_bytes = size_t{1} << 20;
  // fsync every file and the directory before the commit point (and the
  // directory after it). Off only for benchmarks and throwaway checkpoints.
  bool sync = true;
};

// A tensor as the writer takes it: `rank` dimensions at `dims` (a view, so
// the binding can point into an ndarray's own shape). Fixed-width dtypes:
// `data` holds the row-major element bytes (`nbytes` of them) in host byte
// order. STRING and VARIANT: `elements` views each element's bytes (a
// serialized VariantTensorDataProto for VARIANT). All the memory must stay
// valid during the Add call only: the writer copies it out before returning.
struct TensorValue {
  int32_t dtype = 0;
  const int64_t* dims = nullptr;
  size_t rank = 0;
  const char* data = nullptr;
  uint64_t nbytes = 0;
  std::vector<std::string_view> elements;

  std::vector<int64_t> shape() const { return std::vector<int64_t>(dims, dims + rank); }
};

// Writes tensors as they are added (payloads in add order, CRC32C computed
// while copying), then the index in key order at Finish(). Nothing appears
// under the final names before Finish(); a writer destroyed or aborted before
// then removes its temporary files.
//
// Commit protocol (Finish):
//   1. data shards and then the index are written to temp names and fsync'ed;
//   2. the old P.index (if any) is removed and the directory fsync'ed: from
//      here a reader finds no checkpoint at P, never a mix of old and new;
//   3. data shards are renamed to their final names, directory fsync'ed;
//   4. the index is renamed to P.index: the commit point; directory fsync'ed;
//   5. leftovers are removed: temp files of earlier, interrupted saves of P
//      and data shards of the old checkpoint that the new one does not use.
// A process killed before step 2 leaves the old checkpoint intact; killed in
// steps 2-3, no checkpoint at P (a clear not-found); after step 4, the new one.
// One writer per prefix at a time.
//
// Not thread-safe; every method may be called without the GIL.
class BundleWriter {
 public:
  BundleWriter(std::string prefix, BundleWriterOptions options);
  ~BundleWriter();
  BundleWriter(const BundleWriter&) = delete;
  BundleWriter& operator=(const BundleWriter&) = delete;

  // Writes one tensor under `key`. Checked before any byte is written:
  // a non-empty key not added before, a dtype TF can save, a valid shape, and
  // data or elements that match the shape. Errors: kInvalidArgument,
  // kNotSupported (dtype), kIOError (the write itself; the writer is then
  // unusable and only Abort() remains).
  Status Add(std::string_view key, const TensorValue& value);

  // Writes one slice of the partitioned tensor `name` of shape `full_shape`.
  // `slice` uses TensorSliceProto numbers (a full dimension is start 0,
  // length -1). As TF's AddSlice: a slice covering the whole tensor is stored
  // as an ordinary tensor. Checked: the extents lie in `full_shape`, the
  // value's shape is the slice's, dtype and full shape agree with the name's
  // earlier slices, and no two slices of a name overlap.
  Status AddSlice(std::string_view name, const std::vector<int64_t>& full_shape, const TensorSlice& slice,
                  const TensorValue& value);

  // Checks that every partitioned tensor is covered by its slices, writes the
  // index and commits (see above). After Finish the writer is spent.
  Status Finish();

  // Makes room for `entries` more tensors with `key_bytes` bytes of keys and
  // `dims` dimensions in all, so a batch of adds grows no table as it goes
  // (each growth copies, and touches fresh pages). Only a hint.
  void Reserve(size_t entries, size_t key_bytes, size_t dims);

  // Removes every temp file written so far. Safe to call more than once.
  void Abort();

  const std::string& prefix() const { return prefix_; }
  // Data shards used so far (at least 1).
  int32_t num_shards() const { return static_cast<int32_t>(shards_.size()); }

 private:
  struct Shard {
    std::unique_ptr<WritableFile> file;  // null once closed
    std::string temp_path;
  };
  struct Partitioned {
    int32_t dtype;
    std::vector<int64_t> full_shape;
    std::vector<TensorSlice> slices;  // in AddSlice order, as TF stores them
    std::vector<Box> boxes;
  };
  // One index entry. Its key and shape live in the arenas keys_ and dims_, so
  // an Add allocates nothing of its own (a big model adds 50k tensors, and a
  // map node, a key string and a shape vector each cost more than the copy of
  // a small tensor's bytes).
  struct Record {
    uint64_t key_offset;
    uint32_t key_size;
    uint32_t rank;
    uint64_t dims_offset;
    int32_t dtype;
    int32_t shard_id;
    int64_t offset;
    int64_t size;
    uint32_t masked_crc32c;
    const Partitioned* partitioned;  // non-null: the full entry of a partitioned tensor
  };

  Status CheckUsable() const;
  std::string_view KeyOf(const Record& r) const { return std::string_view(keys_.data() + r.key_offset, r.key_size); }
  static uint64_t HashKey(std::string_view key);
  // The record stored under `key` (whose HashKey is `hash`), or -1. Open
  // addressing over record numbers, keyed by the arena's bytes.
  int64_t Find(std::string_view key, uint64_t hash) const;
  int64_t Find(std::string_view key) const { return Find(key, HashKey(key)); }
  // Appends a record for `key` (REQUIRES: not found) and returns it.
  Record& NewRecord(std::string_view key, uint64_t hash, int32_t dtype, const int64_t* dims, size_t rank);
  Record& NewRecord(std::string_view key, int32_t dtype, const int64_t* dims, size_t rank) {
    return NewRecord(key, HashKey(key), dtype, dims, rank);
  }
  void GrowSlots(size_t min_size);
  // Record numbers in bytewise key order, as the index stores them.
  std::vector<uint32_t> KeyOrder() const;
  Status WritePayload(const TensorValue& value, Record* record);
  Status StartShard();
  Status FlushBuffer();
  // Appends n bytes to the current shard through the buffer, extending *crc
  // over them while copying (crc == nullptr: bytes outside any CRC).
  Status Append(const char* data, uint64_t n, uint32_t* crc);
  Status CloseShards();
  Status WriteIndex(std::string* index_temp);
  Status SyncAll(const std::string& index_temp);
  Status Commit(const std::string& index_temp);
  void RemoveLeftovers();
  Status Fail(Status status);

  const std::string prefix_;
  const BundleWriterOptions options_;
  const std::string token_;  // makes this writer's temp names unique
  std::vector<Record> records_;  // in add order; sorted by key only at Finish()
  std::string keys_;             // every record's key, back to back
  std::vector<int64_t> dims_;    // every record's shape, back to back
  // Hash table of records: low 32 bits of the key's hash << 32 | (record
  // number + 1), 0 = empty. The stored hash bits give a record's slot when
  // the table grows (it stays under 2^32 slots), so no key is hashed twice.
  std::vector<uint64_t> slots_;
  std::map<std::string, Partitioned> partitioned_;  // few: a std::map keeps their addresses
  std::vector<Shard> shards_;
  uint64_t shard_bytes_ = 0;  // bytes in the current shard, padding included
  std::unique_ptr<char[]> buffer_;
  size_t buffered_ = 0;
  Status failure_;  // sticky: after an I/O error only Abort() is allowed
  bool finished_ = false;
};

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BUNDLE_WRITER_H_
