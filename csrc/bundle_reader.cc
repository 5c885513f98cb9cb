// bundlefast: opening a tensor bundle and locating tensor payloads.
//
// The `.index` SSTable maps key "" to the BundleHeaderProto and every tensor
// name to a BundleEntryProto {dtype, shape, shard_id, offset, size, crc32c}
// (FORMAT.md sections 1-3). Shard i of N is the file P.data-%05d(i)-of-%05d(N):
// N comes from the header, so the directory is never listed. Payloads are raw
// bytes at `offset`; nothing in a data file describes itself, so every number
// taken from an entry is checked against the shard's real size before use.
//
// A partitioned tensor is a full entry {dtype, shape, slices} plus one
// ordinary entry per slice, keyed EncodeTensorNameSlice(name, slice)
// (FORMAT.md 6). Those slice keys are found once, at Open, by rebuilding them
// from the full entries (as TF's CheckpointReader does), so listings hide
// them and messages can name a slice as "slice 0,2:- of 'w'".
#include "bundle_reader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "coding.h"
#include "dtype.h"
#include "key_text.h"
#include "payload_overlap.h"
#include "slice_key.h"
#include "table.h"

namespace bundlefast {

namespace {
bool HostIsLittleEndian() {
  const uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

// Builds the reader's tables while the SSTable is walked.
class EntryCollector : public BlockVisitor {
 public:
  EntryCollector(const std::string& index_path, BundleHeader* header, std::vector<std::string_view>* keys,
                 std::vector<std::unique_ptr<char[]>>* key_bytes, std::vector<BundleEntry>* entries,
                 std::unordered_map<size_t, Status>* errors)
      : index_path_(index_path),
        header_(header),
        keys_(keys),
        key_bytes_(key_bytes),
        entries_(entries),
        errors_(errors) {}

  Status Visit(std::string_view key, std::string_view value) override {
    if (!seen_header_) {
      seen_header_ = true;
      if (!key.empty()) {
        return Status::Corruption(index_path_ + ": first key is " + QuotedKey(key) +
                                  ", expected the header entry \"\"");
      }
      // V1 checkpoints use the same container; their header is a
      // SavedTensorSlices whose first field is length-delimited (tag 0x0a).
      if (!value.empty() && value[0] == '\x0a') {
        return Status::NotSupported(index_path_ +
                                    ": this is a V1 checkpoint (TensorSliceReader format, TF <= 0.11 or "
                                    "write_version=V1); bundlefast reads only V2 tensor bundles");
      }
      return DecodeBundleHeader(value, index_path_, header_);
    }
    keys_->push_back(CopyKey(key));
    entries_->emplace_back();
    Status s = DecodeBundleEntry(value, header_->num_shards, &entries_->back());
    if (!s.ok()) {
      (*errors_)[entries_->size() - 1] = s.WithContext(index_path_ + ": entry " + QuotedKey(key));
    }
    return Status::OK();
  }
  bool seen_header() const { return seen_header_; }

 private:
  const std::string& index_path_;
  BundleHeader* header_;
  // A copy of `key` at the end of the last chunk of key_bytes_ (a new chunk
  // if it does not fit; a key longer than a chunk gets its own).
  std::string_view CopyKey(std::string_view key) {
    constexpr size_t kChunk = 64 << 10;
    if (key.size() > chunk_left_) {
      const size_t n = std::max(kChunk, key.size());
      key_bytes_->emplace_back(new char[n]);
      chunk_at_ = key_bytes_->back().get();
      chunk_left_ = n;
    }
    if (!key.empty()) std::memcpy(chunk_at_, key.data(), key.size());
    const std::string_view copy(chunk_at_, key.size());
    chunk_at_ += key.size();
    chunk_left_ -= key.size();
    return copy;
  }

  std::vector<std::string_view>* keys_;
  std::vector<std::unique_ptr<char[]>>* key_bytes_;
  char* chunk_at_ = nullptr;
  size_t chunk_left_ = 0;
  std::vector<BundleEntry>* entries_;
  std::unordered_map<size_t, Status>* errors_;
  bool seen_header_ = false;
};
}  // namespace

Status BundleReader::Open(const std::string& prefix, const SourceOpener& open,
                          std::unique_ptr<BundleReader>* out) {
  std::unique_ptr<BundleReader> r(new BundleReader());
  r->prefix_ = prefix;
  r->index_path_ = prefix + ".index";
  r->open_ = open;
  std::string index;
  {
    std::shared_ptr<const ByteSource> source;
    BF_RETURN_IF_ERROR(open(r->index_path_, &source));
    BF_RETURN_IF_ERROR(ReadAll(*source, &index));
  }
  // An index entry takes >= ~20 bytes (key, BundleEntryProto): reserving for
  // index.size() / 24 entries spares most of the regrowth (copies and fresh
  // pages) at 50k tensors. Capped: a huge or hostile index just grows as usual.
  const size_t guess = std::min<size_t>(index.size() / 24, size_t{1} << 18);
  r->keys_.reserve(guess);
  r->entries_.reserve(guess);
  EntryCollector collector(r->index_path_, &r->header_, &r->keys_, &r->key_bytes_, &r->entries_,
                           &r->entry_errors_);
  BF_RETURN_IF_ERROR(ForEachTableEntry(index, r->index_path_, &collector));
  if (!collector.seen_header()) {
    return Status::Corruption(r->index_path_ + ": the table is empty: no header entry");
  }
  const bool little = HostIsLittleEndian();
  r->needs_byte_swap_ = (r->header_.endianness == 1 && little) || (r->header_.endianness == 0 && !little);
  r->FindSliceEntries();
  r->CheckEntries();
  *out = std::move(r);
  return Status::OK();
}

void BundleReader::CheckEntries() {
  payloads_by_shard_.reserve(entries_.size());
  for (size_t i = 0; i < entries_.size(); ++i) {
    const BundleEntry& e = entries_[i];
    if (!e.slices.empty() || (!entry_errors_.empty() && entry_errors_.count(i))) continue;
    const int itemsize = DataTypeSize(e.dtype);
    const uint64_t n = NumElements(e);
    const auto size = static_cast<uint64_t>(e.size);
    uint64_t expected;
    if (itemsize > 0 && (!CheckedMul(n, static_cast<uint64_t>(itemsize), &expected) || expected != size)) {
      entry_errors_[i] = Status::Corruption(Where(i) + ": invalid size in bundle entry: stored size " +
                                            std::to_string(size) + ", expected " + std::to_string(n) +
                                            " elements x " + std::to_string(itemsize) + " bytes (" +
                                            DataTypeName(e.dtype) + " " + ShapeString(e.shape) + ")");
      continue;
    }
    if (size == 0) continue;  // owns no bytes: may sit anywhere
    const auto offset = static_cast<uint64_t>(e.offset);
    const uint64_t end = size > UINT64_MAX - offset ? UINT64_MAX : offset + size;
    payloads_by_shard_.emplace_back(e.shard_id, PayloadRange{offset, end, i});
  }
  // Keys are usually written in payload order already (TF2 saves in sorted
  // order): then the sort is skipped.
  const auto before = [](const std::pair<int32_t, PayloadRange>& a, const std::pair<int32_t, PayloadRange>& b) {
    return a.first != b.first ? a.first < b.first : a.second.offset < b.second.offset;
  };
  if (!std::is_sorted(payloads_by_shard_.begin(), payloads_by_shard_.end(), before)) {
    std::sort(payloads_by_shard_.begin(), payloads_by_shard_.end(), before);
  }
  // Ranks fit in 32 bits (reads then order by them, ReadPlan::Make): an index
  // of 2^32 entries would be a >100 GB file; beyond that, reads keep key order.
  file_rank_.assign(entries_.size(), kNoPayload);
  if (payloads_by_shard_.size() < kNoPayload) {
    for (size_t j = 0; j < payloads_by_shard_.size(); ++j) {
      file_rank_[payloads_by_shard_[j].second.index] = static_cast<uint32_t>(j);
    }
  }
}

void BundleReader::FindSliceEntries() {
  hidden_.assign(keys_.size(), false);
  for (size_t i = 0; i < entries_.size(); ++i) {
    const std::vector<TensorSlice>& slices = entries_[i].slices;
    if (slices.empty() || entry_errors_.count(i)) continue;
    // Every slice key of tensor `name` starts with OC_uint(0) ‖ OC_str(name),
    // and that prefix belongs to no other name (OC_str ends in 00 01, which
    // the escaped name cannot contain). So walk the index keys that start
    // with it and look their remainder up among the listed slices, instead of
    // encoding and finding one key per listed slice: a hostile entry can list
    // a million slices of a long name, and this way each index key is looked
    // at once, whatever the entry lists.
    std::string prefix;
    OrderedCodeWriteNumIncreasing(&prefix, 0);
    OrderedCodeWriteString(&prefix, keys_[i]);
    auto it = std::lower_bound(keys_.begin(), keys_.end(), std::string_view(prefix));
    if (it == keys_.end() || it->compare(0, prefix.size(), prefix) != 0) continue;  // no slice entries
    std::unordered_map<std::string, size_t> slice_of_suffix;  // key after the prefix -> first j
    const size_t empty_name = EncodeTensorNameSlice("", TensorSlice()).size() - 1;  // OC_uint(0) ‖ OC_str("")
    for (size_t j = 0; j < slices.size(); ++j) {
      slice_of_suffix.emplace(EncodeTensorNameSlice("", slices[j]).substr(empty_name), j);
    }
    for (; it != keys_.end() && it->compare(0, prefix.size(), prefix) == 0; ++it) {
      const auto found = slice_of_suffix.find(std::string(it->substr(prefix.size())));
      const auto k = static_cast<size_t>(it - keys_.begin());
      if (found == slice_of_suffix.end() || k == i) continue;  // a key no listed slice makes
      hidden_[k] = true;
      slice_owner_.emplace(k, std::make_pair(i, found->second));
    }
  }
  visible_.clear();
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (!hidden_[i]) visible_.push_back(i);
  }
}

Status BundleReader::entry(size_t i, const BundleEntry** out) const {
  if (!entry_errors_.empty()) {  // rare: skip hashing for the usual undamaged index
    const auto it = entry_errors_.find(i);
    if (it != entry_errors_.end()) return it->second;
  }
  *out = &entries_[i];
  return Status::OK();
}

int64_t BundleReader::Find(std::string_view key) const {
  const auto it = std::lower_bound(keys_.begin(), keys_.end(), key);
  if (it == keys_.end() || *it != key) return -1;
  return it - keys_.begin();
}

Status BundleReader::FindListed(std::string_view key, size_t* i) const {
  const int64_t found = Find(key);
  if (found >= 0 && !hidden_[static_cast<size_t>(found)]) {
    *i = static_cast<size_t>(found);
    return Status::OK();
  }
  return Status::NotFound("tensor " + QuotedKey(key) +
                          (found < 0 ? " not found in " : " is a slice entry of a partitioned tensor in ") +
                          index_path_ + (found < 0 ? "" : "; read the partitioned tensor by its own name"));
}

std::string BundleReader::DataPath(int32_t shard) const {
  char buf[64];
  std::snprintf(buf, sizeof(buf), ".data-%05d-of-%05d", shard, header_.num_shards);
  return prefix_ + buf;
}

Status BundleReader::OpenShard(int32_t shard, std::shared_ptr<const OpenedShard>* out) {
  if (shard < 0 || shard >= header_.num_shards) {
    return Status::Corruption(index_path_ + ": shard " + std::to_string(shard) + " outside [0, " +
                              std::to_string(header_.num_shards) + ")");
  }
  std::lock_guard<std::mutex> lock(shard_mu_);
  std::shared_ptr<const OpenedShard>* slot;
  if (shard < kDenseShards) {
    if (dense_shards_.size() <= static_cast<size_t>(shard)) dense_shards_.resize(static_cast<size_t>(shard) + 1);
    slot = &dense_shards_[static_cast<size_t>(shard)];
  } else {
    slot = &sparse_shards_[shard];
  }
  if (*slot) {
    *out = *slot;
    return Status::OK();
  }
  auto opened = std::make_shared<OpenedShard>();
  BF_RETURN_IF_ERROR(open_(DataPath(shard), &opened->source));  // a failure is not cached
  // The overlap check, among the payloads of this shard that lie inside it: an
  // entry that leaves the file fails alone (Locate) and takes no part here.
  const auto first = std::lower_bound(
      payloads_by_shard_.begin(), payloads_by_shard_.end(), shard,
      [](const std::pair<int32_t, PayloadRange>& a, int32_t s) { return a.first < s; });
  const auto last = std::upper_bound(
      first, payloads_by_shard_.end(), shard,
      [](int32_t s, const std::pair<int32_t, PayloadRange>& a) { return s < a.first; });
  std::vector<PayloadRange> ranges;
  ranges.reserve(static_cast<size_t>(last - first));
  const uint64_t file_size = opened->source->size();
  for (auto it = first; it != last; ++it) {
    if (it->second.end <= file_size) ranges.push_back(it->second);
  }
  const auto describe = [&](const PayloadRange& r) {
    return Name(r.index) + " (shard " + std::to_string(shard) + ", offset " + std::to_string(r.offset) + ", " +
           std::to_string(r.end - r.offset) + " bytes)";
  };
  for (const auto& [a, b] : FindOverlappingPayloads(ranges)) {
    for (const auto& [self, other] : {std::make_pair(a, b), std::make_pair(b, a)}) {
      const size_t i = ranges[self].index;
      if (opened->overlap_errors.count(i)) continue;
      opened->overlap_errors[i] = Status::Corruption(
          index_path_ + ": entry " + Name(i) + ": its payload " + describe(ranges[self]) +
          " overlaps the payload of " + describe(ranges[other]) + "; TF writes every payload once, so both "
          "entries are refused");
    }
  }
  *slot = std::move(opened);
  *out = *slot;
  return Status::OK();
}

Status BundleReader::Shard(int32_t shard, std::shared_ptr<const ByteSource>* out) {
  std::shared_ptr<const OpenedShard> opened;
  BF_RETURN_IF_ERROR(OpenShard(shard, &opened));
  *out = opened->source;
  return Status::OK();
}

void BundleReader::Close() {
  std::lock_guard<std::mutex> lock(shard_mu_);
  dense_shards_.clear();
  sparse_shards_.clear();
}

std::string BundleReader::Name(size_t i) const {
  const auto it = slice_owner_.find(i);
  if (it == slice_owner_.end()) return QuotedKey(keys_[i]);
  const auto [full, j] = it->second;
  return "slice " + SliceString(entries_[full].slices[j]) + " of " + QuotedKey(keys_[full]);
}

std::string BundleReader::Where(size_t i) const { return index_path_ + ": " + Name(i); }

Status BundleReader::CheckReadable(size_t i, const BundleEntry& e) const {
  if (DataTypeSize(e.dtype) == 0 && e.dtype != DT_STRING && e.dtype != DT_VARIANT) {
    return Status::NotSupported(Where(i) + " has dtype " + DataTypeName(e.dtype) +
                                ", which bundlefast cannot return as an array");
  }
  return Status::OK();
}

Status BundleReader::Locate(size_t i, Payload* out) {
  const BundleEntry* e;
  BF_RETURN_IF_ERROR(entry(i, &e));
  return Locate(i, *e, out);
}

Status BundleReader::Locate(size_t i, const BundleEntry& entry, Payload* out) {
  Locator locator(this);
  return locator.Locate(i, entry, out);
}

Status BundleReader::Locator::Locate(size_t i, const BundleEntry& entry, Payload* out) {
  const char* view;
  BF_RETURN_IF_ERROR(Check(i, entry, &view));
  out->entry = &entry;
  out->offset = static_cast<uint64_t>(entry.offset);
  out->size = static_cast<uint64_t>(entry.size);
  out->view = view;
  out->num_elements = NumElements(entry);
  out->source = shard_->source;
  return Status::OK();
}

Status BundleReader::Locator::Check(size_t i, const BundleEntry& entry, const char** view) {
  const BundleReader& r = *reader_;
  const BundleEntry* e = &entry;
  if (!e->slices.empty()) {
    return Status::InvalidArgument(r.Where(i) + " is a partitioned tensor stored as " +
                                   std::to_string(e->slices.size()) + " slices: it has no payload of its own");
  }
  BF_RETURN_IF_ERROR(r.CheckReadable(i, *e));
  if (!shard_ || shard_id_ != e->shard_id) {
    shard_.reset();
    Status s = reader_->OpenShard(e->shard_id, &shard_);
    if (!s.ok()) {
      return s.WithContext(r.Where(i) + " (shard " + std::to_string(e->shard_id) + " of " +
                           std::to_string(r.header_.num_shards) + ")");
    }
    shard_id_ = e->shard_id;
  }
  const OpenedShard* shard = shard_.get();
  const ByteSource& source = *shard->source;
  const auto offset = static_cast<uint64_t>(e->offset);
  const auto size = static_cast<uint64_t>(e->size);  // checked against dtype and shape at Open
  if (!RangeInside(offset, size, source.size())) {
    return Status::Corruption(source.path() + ": " + r.Name(i) + " (offset " + std::to_string(offset) + ", " +
                              std::to_string(size) + " bytes) lies outside the " + std::to_string(source.size()) +
                              "-byte file");
  }
  if (!shard->overlap_errors.empty()) {
    const auto it = shard->overlap_errors.find(i);
    if (it != shard->overlap_errors.end()) return it->second;
  }
  *view = source.View(offset, size);
  return Status::OK();
}

Status BundleReader::FindParts(size_t i, const Box& request, std::vector<Part>* parts) {
  parts->clear();
  const BundleEntry* e;
  BF_RETURN_IF_ERROR(entry(i, &e));
  const std::vector<int64_t>& shape = e->shape;
  bool inside = request.start.size() == shape.size() && request.size.size() == shape.size();
  for (size_t d = 0; inside && d < shape.size(); ++d) {
    inside = request.start[d] >= 0 && request.size[d] >= 0 && request.start[d] <= shape[d] &&
             request.size[d] <= shape[d] - request.start[d];
  }
  if (!inside) {
    return Status::InvalidArgument(Where(i) + ": region " + BoxString(request) + " (start,size per dimension) " +
                                   "does not lie inside its shape " + ShapeString(shape));
  }
  if (e->slices.empty()) {  // TF registers an ordinary tensor as one full slice
    Part p;
    p.index = i;
    BF_RETURN_IF_ERROR(Locate(i, &p.payload));
    p.stored = FullBox(shape);
    p.needed = request;
    parts->push_back(std::move(p));
    return Status::OK();
  }
  BF_RETURN_IF_ERROR(CheckReadable(i, *e));

  // Register every stored slice, as TF's TensorSliceSet does.
  std::vector<Box> boxes(e->slices.size());
  for (size_t j = 0; j < boxes.size(); ++j) {
    Status s = SliceToBox(e->slices[j], shape, &boxes[j]);
    if (!s.ok()) {
      return s.WithContext(Where(i) + ": stored slice " + std::to_string(j) + " of " +
                           std::to_string(boxes.size()) + " of this partitioned tensor");
    }
  }
  size_t a, b;
  if (FindOverlap(boxes, &a, &b)) {
    return Status::Corruption(Where(i) + ": partitioned tensor has overlapping slices " +
                              SliceString(e->slices[a]) + " and " + SliceString(e->slices[b]));
  }

  // The slices that intersect the request; with no overlaps, their
  // intersections cover the request exactly iff their sizes add up to it.
  std::vector<size_t> chosen;
  std::vector<Box> overlaps;
  uint64_t covered = 0;
  for (size_t j = 0; j < boxes.size(); ++j) {
    Box o;
    if (!Intersect(boxes[j], request, &o)) continue;
    covered += o.NumElements();  // disjoint parts of one box: no overflow
    chosen.push_back(j);
    overlaps.push_back(std::move(o));
  }
  if (covered != request.NumElements()) {
    return Status::Corruption(Where(i) + ": the " + std::to_string(boxes.size()) +
                              " stored slices of this partitioned tensor " + DataTypeName(e->dtype) + " " +
                              ShapeString(shape) + " hold " + std::to_string(covered) + " of the " +
                              std::to_string(request.NumElements()) + " elements of region " + BoxString(request));
  }

  parts->reserve(chosen.size());
  for (size_t c = 0; c < chosen.size(); ++c) {
    const size_t j = chosen[c];
    const std::string where = Where(i) + ": slice " + SliceString(e->slices[j]);
    const int64_t k = Find(EncodeTensorNameSlice(keys_[i], e->slices[j]));
    if (k < 0) {
      return Status::Corruption(where + " is missing: the index has no entry under its slice key");
    }
    const BundleEntry* se;
    BF_RETURN_IF_ERROR(entry(static_cast<size_t>(k), &se));
    if (!se->slices.empty()) {
      return Status::Corruption(where + ": the slice entry is itself partitioned");
    }
    if (se->dtype != e->dtype) {
      return Status::Corruption(where + " has dtype " + DataTypeName(se->dtype) + ", but the tensor has dtype " +
                                DataTypeName(e->dtype));
    }
    if (se->shape != boxes[j].size) {
      return Status::Corruption(where + " has shape " + ShapeString(se->shape) + ", expected " +
                                ShapeString(boxes[j].size));
    }
    Part p;
    p.index = static_cast<size_t>(k);
    BF_RETURN_IF_ERROR(Locate(p.index, &p.payload));
    p.stored = std::move(boxes[j]);
    p.needed = std::move(overlaps[c]);
    parts->push_back(std::move(p));
  }
  return Status::OK();
}

}  // namespace bundlefast
