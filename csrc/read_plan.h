// bundlefast: ReadPlan, reading tensors: names and regions in, bytes out.
//
// A read runs in three steps, so that a binding can allocate its arrays in
// between (with its own lock held) and do everything else without it:
//   Make     locates every payload, and for regions and partitioned tensors
//            the stored parts that hold them (BundleReader::FindParts).
//            Nothing is read yet; Fetches() lists, per shard, the byte ranges
//            the read will touch, in file order.
//   Prepare  verifies checksums (except those Fill computes while copying),
//            fetches and decodes strings and variants, fetches what regions
//            need from sources that cannot View, and decides which results
//            are views of a source.
//   Fill     copies every other fixed-width result into caller memory: whole
//            tensors (verified in the same pass when asked), regions and
//            partitioned tensors assembled from their parts, byte-swapped to
//            this machine's order.
// Every error names the file, the tensor (or "slice ... of 'name'"), the
// offset and size, and what was wrong. Memory is allocated only for bytes the
// files really hold: a hostile shape cannot make a read allocate more.
#ifndef BUNDLEFAST_CSRC_READ_PLAN_H_
#define BUNDLEFAST_CSRC_READ_PLAN_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "bundle_reader.h"
#include "slices.h"
#include "status.h"
#include "string_tensor.h"

namespace bundlefast {

// One tensor to read: the whole of entry `index`, or the region
// [start, start + size) of it.
struct ReadRequest {
  size_t index = 0;
  bool has_region = false;
  Box region;
};

// The region [start, stop) of entry `index` (one bound per dimension, as a
// Python slice gives them) as a request. A stop below its start or a negative
// start makes a negative size, which the read refuses (FindParts) naming the
// tensor. Errors: kInvalidArgument if start and stop differ in length.
Status RegionRequest(size_t index, const std::vector<int64_t>& start, const std::vector<int64_t>& stop,
                     ReadRequest* out);

struct ReadOptions {
  bool verify = false;  // check the stored CRC32C of every payload read
  bool copy = false;    // never return views: every fixed-width result is filled
  bool fill = true;     // false: Prepare only (verification), Fill is not called
  int threads = 1;
};

// One element of a string or variant result.
struct ElementBytes {
  const char* data;
  uint64_t size;
};

class ReadPlan {
 public:
  // Errors: BundleReader::Locate's and FindParts' (a region outside the shape
  // is kInvalidArgument), for the first request that has one.
  static Status Make(BundleReader* reader, const std::vector<ReadRequest>& requests, const ReadOptions& options,
                     std::unique_ptr<ReadPlan>* out);
  // The same for the whole of entries `indices` (e.g. reader->visible(): a
  // `load` of every tensor needs no ReadRequest per tensor).
  static Status Make(BundleReader* reader, const std::vector<size_t>& indices, const ReadOptions& options,
                     std::unique_ptr<ReadPlan>* out);
  ~ReadPlan();

  // A byte range a read touches.
  struct Fetch {
    int32_t shard;
    uint64_t offset;
    uint64_t size;
  };
  // Per shard, in file order, the payload ranges this plan reads; for a
  // source that cannot View, exactly the ranges Prepare and Fill will read
  // (a region of a fixed-width part: only the span it needs, as Prepare).
  // A remote source fetches them in one batch before Prepare (_sources.py).
  std::vector<Fetch> Fetches() const;

  // Errors: kChecksumMismatch; kCorruption (strings, variants); kIOError for
  // bytes that could not be read (a file that shrank).
  Status Prepare();

  size_t size() const;
  // Result k: its entry (dtype), the entry's position, and its shape (the
  // entry's, or the region's size).
  const BundleEntry& entry(size_t k) const;
  size_t index(size_t k) const;
  const std::vector<int64_t>& shape(size_t k) const;
  // After Prepare. A fixed-width result is either a view (view(k) non-null,
  // valid while view_source(k) lives) or is filled by Fill; it takes
  // ResultBytes(k) bytes. A STRING or VARIANT result has elements instead.
  int itemsize(size_t k) const;  // DataTypeSize of its dtype: 0 for STRING/VARIANT
  bool elementwise(size_t k) const;
  const char* view(size_t k) const;
  const std::shared_ptr<const ByteSource>& view_source(size_t k) const;
  uint64_t ResultBytes(size_t k) const;
  uint64_t num_elements(size_t k) const;
  ElementBytes element(size_t k, uint64_t j) const;
  // Copies element j of result k into dst (element(k, j).size bytes), under
  // GuardMappedRead: kIOError naming the tensor if its file shrank.
  Status CopyElement(size_t k, uint64_t j, char* dst) const;

  // Fills dst[k] (ResultBytes(k) bytes, C order, native byte order) for every
  // fixed-width result that is not a view (other entries of dst are ignored),
  // checking CRCs on the way when verify was asked. Errors: as Prepare.
  Status Fill(const std::vector<char*>& dst);

 private:
  struct TensorRead;
  struct RegionRead;
  struct Extra;
  struct Bytes;
  ReadPlan() = default;
  // Make's loop: request k is the whole of entry index_of(k), or region_of(k).
  template <typename IndexOf, typename RegionOf>
  static Status MakeFrom(BundleReader* reader, size_t n, IndexOf index_of, RegionOf region_of,
                         const ReadOptions& options, std::unique_ptr<ReadPlan>* out);
  // The stored bytes of result k (its whole payload), or of its part q.
  Bytes Whole(size_t k) const;
  Bytes PartBytes(size_t k, size_t q) const;
  Status ReadError(const Status& s, const Bytes& b, const char* what = "") const;
  Status ChecksumError(const Bytes& b, uint32_t computed) const;
  Status Decode(const Bytes& b, const char* bytes, std::vector<StringRef>* refs) const;
  // Fills file_order_ if `by_file`, else leaves it empty: request order
  // (when no byte jobs will be made, the order does not matter).
  void OrderByFile(bool by_file);

  BundleReader* reader_ = nullptr;
  ReadOptions options_;
  bool swap_ = false;
  std::vector<TensorRead> tensors_;
  // What only some results need (strings and variants, regions, partitioned
  // tensors), kept out of TensorRead so that the 50,000 records of a `load`
  // stay small: TensorRead::extra points here.
  std::vector<Extra> extras_;
  // The shard sources whole tensors are read from (TensorRead::source), held
  // open while the plan lives. One per shard, whatever the number of tensors.
  std::vector<std::shared_ptr<const ByteSource>> sources_;
  // Positions in tensors_ in the order their payloads lie in the files
  // (BundleReader::file_rank), those without a payload of their own last:
  // Prepare and Fill hand RunByteJobs their jobs in file order, so it need not
  // sort them (keys are sorted, data is in write order). Empty: request order.
  std::vector<uint32_t> file_order_;
};

// Checks the stored CRC32C of every payload of entries `indices` (and decodes
// their strings and variants), reading nothing into memory of ours: as
// ReadPlan with verify and without fill. Errors: as Make and Prepare.
Status VerifyTensors(BundleReader* reader, const std::vector<size_t>& indices, int threads);

// Reads the whole of entry `index` (an ordinary or partitioned tensor) into
// dst[0, size), in this machine's byte order, checking CRCs when `verify`.
// Errors: kInvalidArgument naming the tensor if it is a string or variant
// tensor (it has no fixed byte size) or takes other than `size` bytes; else
// as ReadPlan's.
Status ReadTensorInto(BundleReader* reader, size_t index, char* dst, uint64_t size, bool verify, int threads);

// ---------------------------------------------------------------------------
// Implementation: the per-tensor records and their accessors, inline because
// the bindings call them a few times per tensor (~50k tensors per load).

// A region read, or the whole of a partitioned tensor: the stored parts that
// hold it, and what Prepare fetched and decoded of them.
struct ReadPlan::RegionRead {
  bool given = false;  // asked for by the caller (the result may then be a view)
  Box request;         // the region: given, or the full box of a partitioned tensor
  std::vector<BundleReader::Part> parts;
  // Per part, for a source that cannot View: the bytes fetched, which are
  // payload bytes [fetched_begin, ...) (a whole payload for strings/variants
  // and when verifying; otherwise just the span the region needs).
  std::vector<std::unique_ptr<char[]>> fetched;
  std::vector<uint64_t> fetched_begin;
  std::vector<std::vector<StringRef>> part_refs;  // STRING/VARIANT: per part
  std::vector<ElementBytes> elements;             // STRING/VARIANT: in request order

  const char* part_bytes(size_t p) const { return parts[p].payload.view ? parts[p].payload.view : fetched[p].get(); }
};

// What a result needs beyond TensorRead: a whole STRING or VARIANT tensor's
// element ranges (and its bytes, fetched from a source that cannot View), or
// a region (or partitioned tensor) and its parts.
struct ReadPlan::Extra {
  std::unique_ptr<char[]> fetched;     // whole STRING/VARIANT, no View: the payload
  std::vector<StringRef> refs;         // whole STRING/VARIANT: element byte ranges
  std::unique_ptr<RegionRead> region;  // a region, or a partitioned tensor
};

// One requested tensor: 32 bytes, because `load` of 50k tensors makes 50k of
// them on every call (136 bytes each, with a Payload and its shared_ptr, cost
// ~1,700 fresh pages a load). Almost all are the whole of an ordinary tensor:
// its payload is the entry's (offset, size) in sources_[source].
struct ReadPlan::TensorRead {
  static constexpr uint32_t kNoExtra = UINT32_MAX;
  const BundleEntry* entry = nullptr;
  // A whole tensor: its payload in memory if its source can View, else null.
  // A region: the result, if it is a view (is_view).
  const char* bytes = nullptr;
  uint32_t source = 0;          // a whole tensor: its shard's position in sources_
  uint32_t extra = kNoExtra;    // its position in extras_, if it has one
  uint8_t itemsize = 0;         // DataTypeSize(entry->dtype): 0 for STRING/VARIANT
  bool is_view = false;         // the result is `bytes`
  bool verify_in_fill = false;  // Fill checks the CRC while copying
};

inline size_t ReadPlan::size() const { return tensors_.size(); }
inline const BundleEntry& ReadPlan::entry(size_t k) const { return *tensors_[k].entry; }
inline size_t ReadPlan::index(size_t k) const { return reader_->position(*tensors_[k].entry); }
inline const std::vector<int64_t>& ReadPlan::shape(size_t k) const {
  const TensorRead& t = tensors_[k];
  const RegionRead* r = t.extra == TensorRead::kNoExtra ? nullptr : extras_[t.extra].region.get();
  return r ? r->request.size : t.entry->shape;
}
inline int ReadPlan::itemsize(size_t k) const { return tensors_[k].itemsize; }
inline bool ReadPlan::elementwise(size_t k) const { return tensors_[k].itemsize == 0; }
inline const char* ReadPlan::view(size_t k) const { return tensors_[k].is_view ? tensors_[k].bytes : nullptr; }
inline const std::shared_ptr<const ByteSource>& ReadPlan::view_source(size_t k) const {
  const TensorRead& t = tensors_[k];
  const RegionRead* r = t.extra == TensorRead::kNoExtra ? nullptr : extras_[t.extra].region.get();
  return r ? r->parts[0].payload.source : sources_[t.source];
}
inline uint64_t ReadPlan::num_elements(size_t k) const {
  const TensorRead& t = tensors_[k];
  const RegionRead* r = t.extra == TensorRead::kNoExtra ? nullptr : extras_[t.extra].region.get();
  return r ? r->request.NumElements() : NumElements(*t.entry);
}
inline uint64_t ReadPlan::ResultBytes(size_t k) const {
  return num_elements(k) * static_cast<uint64_t>(tensors_[k].itemsize);
}
inline ElementBytes ReadPlan::element(size_t k, uint64_t j) const {
  const TensorRead& t = tensors_[k];
  const Extra& x = extras_[t.extra];  // every STRING/VARIANT result has one
  if (x.region) return x.region->elements[static_cast<size_t>(j)];
  const StringRef& r = x.refs[static_cast<size_t>(j)];
  return ElementBytes{(t.bytes ? t.bytes : x.fetched.get()) + r.offset, r.length};
}

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_READ_PLAN_H_
