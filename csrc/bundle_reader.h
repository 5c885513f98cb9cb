// bundlefast: BundleReader, one opened checkpoint (its index and data shards).
#ifndef BUNDLEFAST_CSRC_BUNDLE_READER_H_
#define BUNDLEFAST_CSRC_BUNDLE_READER_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bundle_entry.h"
#include "mapped_file.h"
#include "slices.h"
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

  // Entries in key order, the header excluded, slice entries included.
  size_t size() const { return keys_.size(); }
  const std::string& key(size_t i) const { return keys_[i]; }
  // The decoded entry, or the error decoding it gave.
  Status entry(size_t i, const BundleEntry** out) const;
  // The position of `key` among all entries (slice entries too), or -1.
  int64_t Find(std::string_view key) const;

  // The entries a listing shows, in key order: every entry except the slice
  // entries of partitioned tensors. As TF's CheckpointReader (FORMAT.md 6.3),
  // exactly the keys EncodeTensorNameSlice(name, s) of each full entry's
  // slices s are hidden; any other key, even one starting with 00, is listed.
  const std::vector<size_t>& visible() const { return visible_; }
  // True if entry i is one of those hidden slice entries.
  bool hidden(size_t i) const { return hidden_[i]; }

  // P.data-%05d-of-%05d (%05d is a minimum width: shard 123456 is "123456").
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
  // Errors: kNotSupported for dtypes that cannot be returned (RESOURCE,
  // INVALID, unknown values) and for partitioned entries (read them with
  // PlanRegion); kCorruption for sizes or ranges that do not add up; kIOError
  // naming the data file and the tensor for a missing shard.
  Status Locate(size_t i, Payload* out);

  // One stored tensor holding part of a requested region: the entry itself
  // for an ordinary tensor, else one stored slice of a partitioned tensor.
  struct Piece {
    size_t index = 0;  // its entry (a slice entry for partitioned tensors)
    Payload payload;   // its located, size-checked bytes
    Box stored;        // the box it holds, in the full tensor's coordinates
    Box overlap;       // stored ∩ request: the part the request needs
  };
  // Finds the stored pieces that hold `request` (a box inside entry i's shape)
  // the way TF's GetSliceValue does (FORMAT.md 6.3): for a partitioned tensor
  // every slice is resolved and registered (rank, bounds, no overlap), a slice
  // equal to the request is used alone, otherwise every intersecting slice is,
  // and their intersections must add up to the whole request. Only the pieces
  // needed are located (a missing shard matters only if a needed slice lives
  // there). An ordinary tensor is one piece, even for an empty request. Each
  // slice entry must exist, share the full entry's dtype and have the slice's
  // shape. Errors: kInvalidArgument for a request outside the shape;
  // kCorruption naming the tensor (and slice) for bad, overlapping, missing or
  // insufficient slices; Locate's errors.
  Status PlanRegion(size_t i, const Box& request, std::vector<Piece>* pieces);

  // Verifies the stored CRC of fixed-width payloads, `threads` at a time, and
  // returns the first mismatch as kChecksumMismatch naming file, key, offset,
  // size and both CRCs. String and variant payloads are skipped: DecodeStrings
  // and DecodeVariants verify them.
  Status VerifyPayloads(const std::vector<size_t>& indices, const std::vector<Payload>& payloads, int threads) const;
  // The same over pointers, so callers need not copy their Payloads.
  Status VerifyPayloads(const std::vector<size_t>& indices, const std::vector<const Payload*>& payloads,
                        int threads) const;

  // Decodes the string tensor at `payload` (see DecodeStringTensor), with the
  // file and key in any error message.
  Status DecodeStrings(size_t i, const Payload& payload, bool verify, std::vector<StringRef>* out) const;

  // Decodes the variant tensor at `payload` (see DecodeVariantTensor), with the
  // file and key in any error message. kNotSupported if the bundle's byte
  // order is not this machine's (TF refuses those too: the tensors nested in a
  // variant would need a type-specific swap).
  Status DecodeVariants(size_t i, const Payload& payload, bool verify, std::vector<StringRef>* out) const;

  // Either of the two above, by the entry's dtype (STRING or VARIANT).
  Status DecodeElements(size_t i, const Payload& payload, bool verify, std::vector<StringRef>* out) const;

  // Entry i for messages: "'<key>'" with control bytes escaped, or
  // "slice 0,2:- of '<name>'" for a hidden slice entry.
  std::string Name(size_t i) const;
  // "<index file>: <Name(i)>", the prefix of messages about entry i.
  std::string Where(size_t i) const;

 private:
  BundleReader() = default;
  // Fills hidden_, visible_ and slice_owner_ from the full entries' slices.
  void FindSliceEntries();
  // kNotSupported naming key and dtype unless entry i's dtype can be returned
  // (fixed-width, STRING or VARIANT).
  Status CheckReadable(size_t i, const BundleEntry& e) const;

  std::string prefix_;
  std::string index_path_;
  BundleHeader header_;
  bool needs_byte_swap_ = false;
  std::vector<std::string> keys_;
  std::vector<BundleEntry> entries_;
  std::unordered_map<size_t, Status> entry_errors_;  // rare: only damaged entries
  std::vector<size_t> visible_;
  std::vector<bool> hidden_;
  // Hidden slice entry -> (its full entry, position in that entry's slices).
  std::unordered_map<size_t, std::pair<size_t, size_t>> slice_owner_;

  std::mutex shard_mu_;
  // Mappings by shard id, guarded by shard_mu_: a vector for the first
  // kDenseShards ids (a lookup per tensor must be cheap), a map beyond, so a
  // hostile header claiming 2^31 shards allocates nothing per shard.
  static constexpr int32_t kDenseShards = 4096;
  std::vector<std::shared_ptr<const MappedFile>> dense_shards_;
  std::unordered_map<int32_t, std::shared_ptr<const MappedFile>> sparse_shards_;
};

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BUNDLE_READER_H_
