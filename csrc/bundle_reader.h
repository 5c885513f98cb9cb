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
#include "byte_source.h"
#include "payload_overlap.h"
#include "slices.h"
#include "status.h"

namespace bundlefast {

// Opens `P.index`, decodes every entry once (a single pass over the table),
// and opens data shards on first use. Damage to one entry is recorded
// against that entry and reported only when it is used, and fails only that
// entry (issue 8): each entry is checked on its own first, and only entries
// that are each valid take part in the overlap check. Damage to the footer, a
// block or the header fails Open(). Reading is read_plan.h's job.
//
// Thread-safety: after Open() every method may be called from any thread;
// shard opening is serialized by a mutex, everything else is immutable.
class BundleReader {
  struct OpenedShard;  // an opened data shard (defined below)

 public:
  // `prefix` is the checkpoint prefix P (the Python layer resolves directories,
  // `checkpoint` files, and `.index` paths first). `open` opens P.index (read
  // whole, once) and each data shard (on first use): OpenMappedSource maps
  // shards, so tensors can be views; OpenFileSource reads them with pread().
  // Errors: kIOError (ENOENT if P.index is missing), kCorruption,
  // kChecksumMismatch, kNotSupported (V1 checkpoints, newer format versions).
  static Status Open(const std::string& prefix, const SourceOpener& open, std::unique_ptr<BundleReader>* out);
  static Status Open(const std::string& prefix, std::unique_ptr<BundleReader>* out) {
    return Open(prefix, OpenMappedSource, out);
  }

  const std::string& prefix() const { return prefix_; }
  const std::string& index_path() const { return index_path_; }
  const BundleHeader& header() const { return header_; }
  // True if the data bytes are in the other byte order than this machine's.
  bool needs_byte_swap() const { return needs_byte_swap_; }

  // Entries in key order, the header excluded, slice entries included.
  size_t size() const { return keys_.size(); }
  std::string_view key(size_t i) const { return keys_[i]; }  // valid while the reader lives
  // The decoded entry, or the error decoding or checking it gave (see Open).
  Status entry(size_t i, const BundleEntry** out) const;
  // The position of `key` among all entries (slice entries too), or -1.
  int64_t Find(std::string_view key) const;
  // The position of an entry entry() handed out (a read keeps 50,000 entry
  // pointers, and needs their positions only for messages and file_rank).
  size_t position(const BundleEntry& e) const { return static_cast<size_t>(&e - entries_.data()); }

  // The entries a listing shows, in key order: every entry except the slice
  // entries of partitioned tensors. As TF's CheckpointReader (FORMAT.md 6.3),
  // exactly the keys EncodeTensorNameSlice(name, s) of each full entry's
  // slices s are hidden; any other key, even one starting with 00, is listed.
  const std::vector<size_t>& visible() const { return visible_; }
  // True if entry i is one of those hidden slice entries.
  bool hidden(size_t i) const { return hidden_[i]; }
  // The position of a listed key: as Find, but hidden slice entries are not
  // found, so that a listing, membership and lookup agree (a Mapping), as in
  // TF's CheckpointReader. Errors: kNotFound naming the key and the index
  // file (for a slice entry, saying to read its tensor by its own name).
  Status FindListed(std::string_view key, size_t* i) const;
  // Where entry i's payload lies among all payloads in (shard, offset) order:
  // reading in this order reads each file front to back. kNoPayload for
  // entries without bytes of their own (empty, partitioned, damaged).
  static constexpr uint32_t kNoPayload = UINT32_MAX;
  uint32_t file_rank(size_t i) const { return file_rank_[i]; }

  // P.data-%05d-of-%05d (%05d is a minimum width: shard 123456 is "123456").
  std::string DataPath(int32_t shard) const;
  // The source of shard `shard`, opened on first use. Errors: kIOError naming the file.
  Status Shard(int32_t shard, std::shared_ptr<const ByteSource>* out);
  // Forgets the shard sources this reader holds. Views handed out keep theirs.
  void Close();

  // A tensor's stored bytes, validated: dtype readable, size consistent with
  // shape and dtype, the range inside the shard, overlapping no other valid
  // entry's payload.
  struct Payload {
    const BundleEntry* entry = nullptr;
    std::shared_ptr<const ByteSource> source;
    uint64_t offset = 0;
    uint64_t size = 0;
    const char* view = nullptr;  // the bytes in memory if the source can View, else null
    uint64_t num_elements = 0;
  };
  // Errors: kNotSupported for dtypes that cannot be returned (RESOURCE,
  // INVALID, unknown values); kInvalidArgument for a partitioned entry (it has
  // no payload of its own: read it with FindParts); kCorruption for sizes or
  // ranges that do not add up; kIOError naming the data file and the tensor
  // for a missing shard.
  Status Locate(size_t i, Payload* out);
  // The same for entry i already fetched with entry(i) (a read locates 50,000
  // tensors: one lookup each, not two).
  Status Locate(size_t i, const BundleEntry& entry, Payload* out);
  // Locates many entries in a row (ReadPlan::Make): keeps the shard of the
  // last one, so that the next ones in the same shard take no lock and no
  // reference of their own. One thread at a time; it keeps that shard open
  // (like a Payload) while it lives.
  class Locator {
   public:
    explicit Locator(BundleReader* reader) : reader_(reader) {}
    Status Locate(size_t i, const BundleEntry& entry, Payload* out);
    // Locate without a Payload (no reference to the source taken): checks
    // entry i the same way and sets *view (null if the source cannot View);
    // source() is then its shard's source, until the next call (REQUIRES:
    // that Check succeeded). The payload is the entry's [offset, offset + size).
    Status Check(size_t i, const BundleEntry& entry, const char** view);
    const std::shared_ptr<const ByteSource>& source() const { return shard_->source; }

   private:
    BundleReader* reader_;
    int32_t shard_id_ = -1;
    std::shared_ptr<const OpenedShard> shard_;
  };

  // One stored tensor holding part of a requested region: the entry itself
  // for an ordinary tensor, else one stored slice of a partitioned tensor.
  struct Part {
    size_t index = 0;  // its entry (a slice entry for partitioned tensors)
    Payload payload;   // its located, size-checked bytes
    Box stored;        // the box it holds, in the full tensor's coordinates
    Box needed;        // stored ∩ request: the part the request needs
  };
  // Finds the stored parts that hold `request` (a box inside entry i's shape)
  // the way TF's GetSliceValue does (FORMAT.md 6.3): for a partitioned tensor
  // every slice is resolved and registered (rank, bounds, no overlap), a slice
  // equal to the request is used alone, otherwise every intersecting slice is,
  // and their intersections must add up to the whole request. Only the parts
  // needed are located (a missing shard matters only if a needed slice lives
  // there). An ordinary tensor is one part, even for an empty request. Each
  // slice entry must exist, share the full entry's dtype and have the slice's
  // shape. Errors: kInvalidArgument for a request outside the shape;
  // kCorruption naming the tensor (and slice) for bad, overlapping, missing or
  // insufficient slices; Locate's errors.
  Status FindParts(size_t i, const Box& request, std::vector<Part>* parts);

  // Entry i for messages: "'<key>'" with control bytes escaped, or
  // "slice 0,2:- of '<name>'" for a hidden slice entry.
  std::string Name(size_t i) const;
  // "<index file>: <Name(i)>", the prefix of messages about entry i.
  std::string Where(size_t i) const;

 private:
  BundleReader() = default;
  // Fills hidden_, visible_ and slice_owner_ from the full entries' slices.
  void FindSliceEntries();
  // Checks each entry on its own (size against dtype and shape) and lists the
  // payloads of the valid ones by shard for the overlap check (OpenShard).
  void CheckEntries();
  // kNotSupported naming key and dtype unless entry i's dtype can be returned
  // (fixed-width, STRING or VARIANT).
  Status CheckReadable(size_t i, const BundleEntry& e) const;

  // An opened shard, and the entries refused once its size was known: a
  // payload that shares bytes with another valid payload of the shard.
  // Immutable once made.
  struct OpenedShard {
    std::shared_ptr<const ByteSource> source;
    std::unordered_map<size_t, Status> overlap_errors;
  };
  Status OpenShard(int32_t shard, std::shared_ptr<const OpenedShard>* out);

  std::string prefix_;
  std::string index_path_;
  SourceOpener open_;
  BundleHeader header_;
  bool needs_byte_swap_ = false;
  // Keys point into key_bytes_: chunks filled one after another, so 50,000
  // keys are a few dozen allocations, not one heap string each.
  std::vector<std::string_view> keys_;
  std::vector<std::unique_ptr<char[]>> key_bytes_;
  std::vector<BundleEntry> entries_;
  std::unordered_map<size_t, Status> entry_errors_;  // rare: only damaged entries
  std::vector<size_t> visible_;
  std::vector<bool> hidden_;
  // Hidden slice entry -> (its full entry, position in that entry's slices).
  std::unordered_map<size_t, std::pair<size_t, size_t>> slice_owner_;
  // Non-empty payloads of valid entries, sorted by (shard, offset), for the
  // overlap check of each shard when it is opened (which first drops the
  // entries whose payload leaves the file).
  std::vector<std::pair<int32_t, PayloadRange>> payloads_by_shard_;
  std::vector<uint32_t> file_rank_;  // per entry: its position in payloads_by_shard_, or kNoPayload

  std::mutex shard_mu_;
  // Opened shards by id, guarded by shard_mu_: a vector for the first
  // kDenseShards ids (a lookup per tensor must be cheap), a map beyond, so a
  // hostile header claiming 2^31 shards allocates nothing per shard.
  static constexpr int32_t kDenseShards = 4096;
  std::vector<std::shared_ptr<const OpenedShard>> dense_shards_;
  std::unordered_map<int32_t, std::shared_ptr<const OpenedShard>> sparse_shards_;
};

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BUNDLE_READER_H_
