// bundlefast: opening a tensor bundle and locating tensor payloads.
//
// The `.index` SSTable maps key "" to the BundleHeaderProto and every tensor
// name to a BundleEntryProto {dtype, shape, shard_id, offset, size, crc32c}
// (FORMAT.md sections 1-3). Shard i of N is the file P.data-%05d(i)-of-%05d(N):
// N comes from the header, so the directory is never listed. Payloads are raw
// bytes at `offset`; nothing in a data file describes itself, so every number
// taken from an entry is checked against the shard's real size before use.
#include "bundle_reader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "coding.h"
#include "crc32c.h"
#include "dtype.h"
#include "payload.h"
#include "table.h"

namespace bundlefast {

namespace {
std::string Hex32(uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

bool HostIsLittleEndian() {
  const uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

// Builds the reader's tables while the SSTable is walked.
class EntryCollector : public BlockVisitor {
 public:
  EntryCollector(const std::string& index_path, BundleHeader* header, std::vector<std::string>* keys,
                 std::vector<BundleEntry>* entries, std::unordered_map<size_t, Status>* errors)
      : index_path_(index_path), header_(header), keys_(keys), entries_(entries), errors_(errors) {}

  Status Visit(std::string_view key, std::string_view value) override {
    if (!seen_header_) {
      seen_header_ = true;
      if (!key.empty()) {
        return Status::Corruption(index_path_ + ": first key is '" + std::string(key) +
                                  "', expected the header entry \"\"");
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
    keys_->emplace_back(key);
    entries_->emplace_back();
    Status s = DecodeBundleEntry(value, header_->num_shards, &entries_->back());
    if (!s.ok()) {
      (*errors_)[entries_->size() - 1] = s.WithContext(index_path_ + ": entry '" + std::string(key) + "'");
    }
    return Status::OK();
  }
  bool seen_header() const { return seen_header_; }

 private:
  const std::string& index_path_;
  BundleHeader* header_;
  std::vector<std::string>* keys_;
  std::vector<BundleEntry>* entries_;
  std::unordered_map<size_t, Status>* errors_;
  bool seen_header_ = false;
};
}  // namespace

Status BundleReader::Open(const std::string& prefix, std::unique_ptr<BundleReader>* out) {
  std::unique_ptr<BundleReader> r(new BundleReader());
  r->prefix_ = prefix;
  r->index_path_ = prefix + ".index";
  std::string index;
  BF_RETURN_IF_ERROR(ReadFileToString(r->index_path_, &index));
  EntryCollector collector(r->index_path_, &r->header_, &r->keys_, &r->entries_, &r->entry_errors_);
  BF_RETURN_IF_ERROR(ForEachTableEntry(index, r->index_path_, &collector));
  if (!collector.seen_header()) {
    return Status::Corruption(r->index_path_ + ": the table is empty: no header entry");
  }
  const bool little = HostIsLittleEndian();
  r->needs_byte_swap_ = (r->header_.endianness == 1 && little) || (r->header_.endianness == 0 && !little);
  r->shards_.resize(static_cast<size_t>(r->header_.num_shards));
  *out = std::move(r);
  return Status::OK();
}

Status BundleReader::entry(size_t i, const BundleEntry** out) const {
  const auto it = entry_errors_.find(i);
  if (it != entry_errors_.end()) return it->second;
  *out = &entries_[i];
  return Status::OK();
}

int64_t BundleReader::Find(std::string_view key) const {
  const auto it = std::lower_bound(keys_.begin(), keys_.end(), key,
                                   [](const std::string& a, std::string_view b) { return std::string_view(a) < b; });
  if (it == keys_.end() || *it != key) return -1;
  return it - keys_.begin();
}

std::string BundleReader::DataPath(int32_t shard) const {
  char buf[64];
  std::snprintf(buf, sizeof(buf), ".data-%05d-of-%05d", shard, header_.num_shards);
  return prefix_ + buf;
}

Status BundleReader::Shard(int32_t shard, std::shared_ptr<const MappedFile>* out) {
  std::lock_guard<std::mutex> lock(shard_mu_);
  auto& slot = shards_[static_cast<size_t>(shard)];
  if (!slot) BF_RETURN_IF_ERROR(MappedFile::Open(DataPath(shard), &slot));
  *out = slot;
  return Status::OK();
}

void BundleReader::Close() {
  std::lock_guard<std::mutex> lock(shard_mu_);
  for (auto& s : shards_) s.reset();
}

std::string BundleReader::Where(size_t i) const { return index_path_ + ": '" + keys_[i] + "'"; }

Status BundleReader::Locate(size_t i, Payload* out) {
  const BundleEntry* e;
  BF_RETURN_IF_ERROR(entry(i, &e));
  if (!e->slices.empty()) {
    return Status::NotSupported(Where(i) + " is a partitioned tensor stored as " +
                                std::to_string(e->slices.size()) + " slices; slice assembly is not supported yet");
  }
  const int itemsize = DataTypeSize(e->dtype);
  if (itemsize == 0 && e->dtype != DT_STRING) {
    return Status::NotSupported(Where(i) + " has dtype " + DataTypeName(e->dtype) +
                                ", which bundlefast cannot return as an array");
  }
  const uint64_t n = NumElements(*e);
  const uint64_t size = static_cast<uint64_t>(e->size);
  if (itemsize > 0) {
    uint64_t expected;
    if (!CheckedMul(n, static_cast<uint64_t>(itemsize), &expected) || expected != size) {
      return Status::Corruption(Where(i) + ": invalid size in bundle entry: stored size " + std::to_string(size) +
                                ", expected " + std::to_string(n) + " elements x " + std::to_string(itemsize) +
                                " bytes (" + DataTypeName(e->dtype) + " " + ShapeString(e->shape) + ")");
    }
  }
  std::shared_ptr<const MappedFile> file;
  BF_RETURN_IF_ERROR(Shard(e->shard_id, &file));
  const uint64_t offset = static_cast<uint64_t>(e->offset);
  if (!RangeInside(offset, size, file->size())) {
    return Status::Corruption(file->path() + ": '" + keys_[i] + "' (offset " + std::to_string(offset) + ", " +
                              std::to_string(size) + " bytes) lies outside the " + std::to_string(file->size()) +
                              "-byte file");
  }
  out->entry = e;
  out->data = file->data() + offset;
  out->file = std::move(file);
  out->num_elements = n;
  return Status::OK();
}

Status BundleReader::VerifyPayloads(const std::vector<size_t>& indices, const std::vector<Payload>& payloads,
                                    int threads) const {
  std::vector<size_t> which;
  std::vector<const char*> data;
  std::vector<uint64_t> sizes;
  for (size_t k = 0; k < payloads.size(); ++k) {
    if (payloads[k].entry->dtype == DT_STRING) continue;  // checked while decoding
    which.push_back(k);
    data.push_back(payloads[k].data);
    sizes.push_back(static_cast<uint64_t>(payloads[k].entry->size));
  }
  const std::vector<uint32_t> crcs = ChecksumRanges(data, sizes, threads);
  for (size_t j = 0; j < which.size(); ++j) {
    const Payload& p = payloads[which[j]];
    const uint32_t stored = crc32c::Unmask(p.entry->masked_crc32c);
    if (crcs[j] != stored) {
      return Status::ChecksumMismatch(p.file->path() + ": crc32c mismatch for '" + keys_[indices[which[j]]] +
                                      "' (offset " + std::to_string(p.entry->offset) + ", " +
                                      std::to_string(p.entry->size) + " bytes): stored " + Hex32(stored) +
                                      ", computed " + Hex32(crcs[j]));
    }
  }
  return Status::OK();
}

Status BundleReader::DecodeStrings(size_t i, const Payload& p, bool verify, std::vector<StringRef>* out) const {
  return DecodeStringTensor(p.data, static_cast<uint64_t>(p.entry->size), p.num_elements, 
                            /*big_endian=*/header_.endianness == 1, verify, p.entry->masked_crc32c, out)
      .WithContext(p.file->path() + ": string tensor '" + keys_[i] + "' (offset " + std::to_string(p.entry->offset) +
                   ", " + std::to_string(p.entry->size) + " bytes)");
}

}  // namespace bundlefast
