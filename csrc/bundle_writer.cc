// bundlefast: writing tensor bundles (TF's BundleWriter, FORMAT.md 9).
//
// Byte-identical to TF where TF is deterministic: payloads in add order,
// zero padding to `alignment` after each, entries in key order in a table
// built with TF's options, header {num_shards, version {producer 1}}. With
// alignment 1 and one shard that is exactly what SaveV2 writes.
//
// Why a copy through a buffer: the CRC of a payload has to be computed anyway,
// and ExtendCopy computes it while moving the bytes into a cache-sized buffer,
// so each source byte is read once; the buffer is then written with one call.
// Small tensors (50k of them in a big model) are batched into one write.
#include "bundle_writer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <utility>

#include <unistd.h>

#include "bundle_paths.h"
#include "coding.h"
#include "crc32c.h"
#include "dtype.h"
#include "key_text.h"
#include "parallel.h"
#include "slice_key.h"
#include "string_tensor.h"
#include "table_builder.h"
#include "variant_tensor.h"

namespace bundlefast {

namespace {
constexpr int32_t kTensorBundleProducer = 1;  // kTensorBundleVersion

// Unique per writer: the pid keeps concurrent processes apart, the counter
// threads, the random part reused pids.
std::string MakeToken() {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  const uint64_t r = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                     static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  uint64_t token = (static_cast<uint64_t>(::getpid()) << 40) ^ (r & 0xffffffffffull) ^ (counter++ << 56);
  token &= 0x7fffffffffffffffull;
  return std::to_string(token);
}

bool Writable(int32_t dtype) {
  return DataTypeSize(dtype) > 0 || dtype == DT_STRING || dtype == DT_VARIANT;
}

// Checks `value` against its own dtype and shape (the caller names it in errors).
Status CheckValue(const TensorValue& value) {
  if (!Writable(value.dtype)) {
    return Status::NotSupported("dtype " + DataTypeName(value.dtype) +
                                " cannot be saved in a checkpoint");
  }
  if (value.rank > static_cast<size_t>(kMaxRank)) {
    return Status::InvalidArgument("rank " + std::to_string(value.rank) + " is above TensorFlow's maximum of 254");
  }
  uint64_t elements = 1;
  for (size_t i = 0; i < value.rank; ++i) {
    const int64_t d = value.dims[i];
    if (d < 0 || !CheckedMul(elements, static_cast<uint64_t>(d), &elements) ||
        elements > static_cast<uint64_t>(INT64_MAX)) {
      return Status::InvalidArgument("invalid shape " + ShapeString(value.shape()));
    }
  }
  const int itemsize = DataTypeSize(value.dtype);
  if (itemsize > 0) {
    uint64_t expected;
    if (!CheckedMul(elements, static_cast<uint64_t>(itemsize), &expected) || expected != value.nbytes) {
      return Status::InvalidArgument(std::to_string(value.nbytes) + " bytes of data for shape " +
                                     ShapeString(value.shape()) + " of " + DataTypeName(value.dtype) +
                                     ", expected " + std::to_string(elements) + " x " + std::to_string(itemsize));
    }
  } else if (value.elements.size() != elements) {
    return Status::InvalidArgument(std::to_string(value.elements.size()) + " elements for shape " +
                                   ShapeString(value.shape()) + ", expected " + std::to_string(elements));
  }
  return Status::OK();
}

BundleWriterOptions Normalized(BundleWriterOptions options) {
  if (options.alignment == 0) options.alignment = 1;
  if (options.buffer_bytes == 0) options.buffer_bytes = 1;
  return options;
}
}  // namespace

BundleWriter::BundleWriter(std::string prefix, BundleWriterOptions options)
    : prefix_(std::move(prefix)),
      options_(Normalized(options)),
      token_(MakeToken()),
      buffer_(new char[options_.buffer_bytes]) {}

BundleWriter::~BundleWriter() { Abort(); }

Status BundleWriter::CheckUsable() const {
  if (finished_) return Status::InvalidArgument(prefix_ + ": the writer is already finished or aborted");
  if (!failure_.ok()) {
    return Status::InvalidArgument(prefix_ + ": the writer failed earlier (" + failure_.message() +
                                   "); nothing was committed");
  }
  return Status::OK();
}

Status BundleWriter::Fail(Status status) {
  failure_ = status;
  return status;
}

Status BundleWriter::Add(std::string_view key, const TensorValue& value) {
  BF_RETURN_IF_ERROR(CheckUsable());
  if (key.empty()) {
    return Status::InvalidArgument(prefix_ + ": the empty tensor name is reserved for the bundle header");
  }
  // The message prefix is built only on failure: Add runs ~50k times for a big model.
  const Status checked = CheckValue(value);
  if (!checked.ok()) return checked.WithContext(prefix_ + ": tensor " + QuotedKey(key));
  if (key.size() > UINT32_MAX) return Status::InvalidArgument(prefix_ + ": a tensor name of 4 GiB or more");
  const uint64_t hash = HashKey(key);
  if (Find(key, hash) >= 0 || (!partitioned_.empty() && partitioned_.count(std::string(key)))) {
    return Status::InvalidArgument(prefix_ + ": tensor " + QuotedKey(key) + " is added twice (duplicate key)");
  }
  return WritePayload(value, &NewRecord(key, hash, value.dtype, value.dims, value.rank));
}

uint64_t BundleWriter::HashKey(std::string_view key) { return std::hash<std::string_view>()(key); }

int64_t BundleWriter::Find(std::string_view key, uint64_t hash) const {
  if (slots_.empty()) return -1;
  const uint64_t tag = hash & 0xffffffffu;
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const uint64_t slot = slots_[i];
    if (slot == 0) return -1;
    if ((slot >> 32) == tag) {
      const uint32_t n = static_cast<uint32_t>(slot) - 1;
      if (KeyOf(records_[n]) == key) return n;
    }
  }
}

void BundleWriter::GrowSlots(size_t min_size) {
  size_t size = slots_.empty() ? 1024 : slots_.size() * 2;
  while (size < min_size) size *= 2;
  std::vector<uint64_t> old(size, 0);
  old.swap(slots_);
  const size_t mask = slots_.size() - 1;
  for (const uint64_t slot : old) {
    if (slot == 0) continue;
    size_t i = (slot >> 32) & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = slot;
  }
}

BundleWriter::Record& BundleWriter::NewRecord(std::string_view key, uint64_t hash, int32_t dtype,
                                              const int64_t* dims, size_t rank) {
  if (2 * (records_.size() + 1) > slots_.size()) GrowSlots(0);  // load factor at most 1/2
  const size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (slots_[i] != 0) i = (i + 1) & mask;
  slots_[i] = (hash & 0xffffffffu) << 32 | (records_.size() + 1);

  Record r{};
  r.key_offset = keys_.size();
  r.key_size = static_cast<uint32_t>(key.size());
  keys_.append(key.data(), key.size());
  r.dims_offset = dims_.size();
  r.rank = static_cast<uint32_t>(rank);
  dims_.insert(dims_.end(), dims, dims + rank);
  r.dtype = dtype;
  records_.push_back(r);
  return records_.back();
}

void BundleWriter::Reserve(size_t entries, size_t key_bytes, size_t dims) {
  records_.reserve(records_.size() + entries);
  keys_.reserve(keys_.size() + key_bytes);
  dims_.reserve(dims_.size() + dims);
  const size_t wanted = 2 * (records_.size() + entries);
  if (wanted > slots_.size()) GrowSlots(wanted);
}

std::vector<uint32_t> BundleWriter::KeyOrder() const {
  const size_t n = records_.size();
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
  const auto less = [this](uint32_t a, uint32_t b) { return KeyOf(records_[a]) < KeyOf(records_[b]); };
  if (std::is_sorted(order.begin(), order.end(), less)) return order;  // added in order already
  // Model keys share long prefixes ("model/layer_with_weights-"), which makes
  // every string comparison scan them. Sort by the 8 bytes after the prefix
  // all keys share, as a big-endian integer (zero-padded: a key ending there
  // sorts first, as it should), and compare whole keys only on ties.
  size_t common = n == 0 ? 0 : records_[0].key_size;
  const std::string_view first = n == 0 ? std::string_view() : KeyOf(records_[0]);
  for (size_t i = 1; i < n && common > 0; ++i) {
    common = SharedPrefixLength(first.substr(0, common), KeyOf(records_[i]));
  }
  std::vector<std::pair<uint64_t, uint32_t>> keyed(n), scratch(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string_view k = KeyOf(records_[i]);
    uint64_t head = 0;
    for (size_t j = 0; j < 8; ++j) {
      const size_t at = common + j;
      head = head << 8 | (at < k.size() ? static_cast<unsigned char>(k[at]) : 0u);
    }
    keyed[i] = {head, static_cast<uint32_t>(i)};
  }
  // LSD radix sort on the heads, a byte a pass (skipping bytes all heads
  // share): linear, where a comparison sort of 50k keys costs 16 compares each.
  for (int shift = 0; shift < 64; shift += 8) {
    size_t counts[257] = {0};
    for (const auto& e : keyed) ++counts[((e.first >> shift) & 0xff) + 1];
    if (counts[((keyed[0].first >> shift) & 0xff) + 1] == n) continue;
    for (int b = 0; b < 256; ++b) counts[b + 1] += counts[b];
    for (const auto& e : keyed) scratch[counts[(e.first >> shift) & 0xff]++] = e;
    keyed.swap(scratch);
  }
  // Equal heads: whole keys decide.
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && keyed[j].first == keyed[i].first) ++j;
    if (j - i > 1) {
      std::sort(keyed.begin() + i, keyed.begin() + j,
                [&](const auto& a, const auto& b) { return less(a.second, b.second); });
    }
    i = j;
  }
  for (size_t i = 0; i < n; ++i) order[i] = keyed[i].second;
  return order;
}

Status BundleWriter::AddSlice(std::string_view name, const std::vector<int64_t>& full_shape,
                              const TensorSlice& slice, const TensorValue& value) {
  BF_RETURN_IF_ERROR(CheckUsable());
  const std::string n(name);
  const std::vector<int64_t> value_shape = value.shape();
  const std::string what = prefix_ + ": slice " + SliceString(slice) + " of tensor " + QuotedKey(name);
  if (name.empty()) {
    return Status::InvalidArgument(prefix_ + ": the empty tensor name is reserved for the bundle header");
  }
  if (full_shape.empty()) return Status::InvalidArgument(what + ": a scalar cannot be partitioned");
  for (const int64_t d : full_shape) {
    if (d < 0) return Status::InvalidArgument(what + ": invalid full shape " + ShapeString(full_shape));
  }
  if (full_shape.size() > static_cast<size_t>(kMaxRank)) {
    return Status::InvalidArgument(what + ": full shape has rank above 254");
  }
  Box box;
  const Status geometry = SliceToBox(slice, full_shape, &box);
  if (!geometry.ok()) {
    return Status::InvalidArgument(what + " does not fit the full shape " + ShapeString(full_shape) + ": " +
                                   geometry.message());
  }
  if (box.size != value_shape) {
    return Status::InvalidArgument(what + " has shape " + ShapeString(box.size) + ", but the value has shape " +
                                   ShapeString(value_shape));
  }
  const Status checked = CheckValue(value);
  if (!checked.ok()) return checked.WithContext(what);
  if (Find(n) >= 0) return Status::InvalidArgument(what + ": the tensor was already added whole");
  // TF's AddSlice: a slice that is the whole tensor is an ordinary tensor.
  if (box == FullBox(full_shape) && !partitioned_.count(n)) return Add(name, value);

  auto it = partitioned_.find(n);
  if (it != partitioned_.end()) {
    const Partitioned& p = it->second;
    if (p.dtype != value.dtype || p.full_shape != full_shape) {
      return Status::InvalidArgument(what + " is " + DataTypeName(value.dtype) + " of full shape " +
                                     ShapeString(full_shape) + ", but earlier slices are " +
                                     DataTypeName(p.dtype) + " of full shape " + ShapeString(p.full_shape));
    }
    for (size_t i = 0; i < p.boxes.size(); ++i) {
      Box overlap;
      if (Intersect(p.boxes[i], box, &overlap)) {
        return Status::InvalidArgument(what + " overlaps the slice " + SliceString(p.slices[i]) +
                                       " added before");
      }
    }
  }
  const std::string slice_key = EncodeTensorNameSlice(name, slice);
  if (Find(slice_key) >= 0) return Status::InvalidArgument(what + " is added twice (duplicate key)");
  BF_RETURN_IF_ERROR(WritePayload(value, &NewRecord(slice_key, value.dtype, value.dims, value.rank)));
  if (it == partitioned_.end()) it = partitioned_.emplace(n, Partitioned{value.dtype, full_shape, {}, {}}).first;
  it->second.slices.push_back(slice);
  it->second.boxes.push_back(std::move(box));
  return Status::OK();
}

Status BundleWriter::WritePayload(const TensorValue& value, Record* record) {
  // Work out the payload size first: it decides the shard.
  std::string head;  // strings: lengths + checksum; variants: the whole payload
  uint32_t crc = 0;
  uint64_t size = value.nbytes;
  uint32_t masked_crc = 0;
  if (value.dtype == DT_STRING) {
    std::vector<uint64_t> lengths;
    lengths.reserve(value.elements.size());
    size = 0;
    for (const std::string_view e : value.elements) {
      lengths.push_back(e.size());
      size += e.size();
    }
    crc = EncodeStringTensorHead(lengths, /*big_endian=*/false, &head);
    size += head.size();
  } else if (value.dtype == DT_VARIANT) {
    masked_crc = EncodeVariantTensor(value.elements, &head);
    size = head.size();
  }

  if (shards_.empty() ||
      (options_.max_shard_bytes > 0 && shard_bytes_ > 0 && shard_bytes_ + size > options_.max_shard_bytes)) {
    BF_RETURN_IF_ERROR(StartShard());
  }
  record->shard_id = static_cast<int32_t>(shards_.size() - 1);
  record->offset = static_cast<int64_t>(shard_bytes_);
  record->size = static_cast<int64_t>(size);

  if (value.dtype == DT_VARIANT) {
    BF_RETURN_IF_ERROR(Append(head.data(), head.size(), nullptr));
  } else if (value.dtype == DT_STRING) {
    BF_RETURN_IF_ERROR(Append(head.data(), head.size(), nullptr));
    for (const std::string_view e : value.elements) BF_RETURN_IF_ERROR(Append(e.data(), e.size(), &crc));
    masked_crc = crc32c::Mask(crc);
  } else {
    BF_RETURN_IF_ERROR(Append(value.data, value.nbytes, &crc));
    masked_crc = crc32c::Mask(crc);
  }
  record->masked_crc32c = masked_crc;

  const uint64_t misalignment = shard_bytes_ % options_.alignment;
  if (misalignment != 0) {
    static const char kZeros[256] = {0};
    uint64_t pad = options_.alignment - misalignment;
    while (pad > 0) {
      const uint64_t n = pad < sizeof(kZeros) ? pad : sizeof(kZeros);
      BF_RETURN_IF_ERROR(Append(kZeros, n, nullptr));
      pad -= n;
    }
  }
  return Status::OK();
}

Status BundleWriter::StartShard() {
  if (!shards_.empty()) {
    BF_RETURN_IF_ERROR(FlushBuffer());
    Shard& last = shards_.back();
    const Status s = last.file->Close();  // synced with the others at Finish()
    if (!s.ok()) return Fail(s);
    last.file.reset();
  }
  Shard shard;
  shard.temp_path = TempDataFilename(prefix_, static_cast<int32_t>(shards_.size()), token_);
  const Status s = WritableFile::Create(shard.temp_path, &shard.file);
  if (!s.ok()) return Fail(s);
  shards_.push_back(std::move(shard));
  shard_bytes_ = 0;
  return Status::OK();
}

Status BundleWriter::FlushBuffer() {
  if (buffered_ == 0) return Status::OK();
  const Status s = shards_.back().file->Append(buffer_.get(), buffered_);
  buffered_ = 0;
  if (!s.ok()) return Fail(s);
  return Status::OK();
}

Status BundleWriter::Append(const char* data, uint64_t n, uint32_t* crc) {
  shard_bytes_ += n;
  const size_t capacity = options_.buffer_bytes;
  while (n > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, capacity - buffered_));
    char* dst = buffer_.get() + buffered_;
    if (crc != nullptr) {
      *crc = crc32c::ExtendCopy(*crc, dst, data, chunk);
    } else {
      std::memcpy(dst, data, chunk);
    }
    buffered_ += chunk;
    data += chunk;
    n -= chunk;
    if (buffered_ == capacity) BF_RETURN_IF_ERROR(FlushBuffer());
  }
  return Status::OK();
}

Status BundleWriter::CloseShards() {
  if (shards_.empty()) BF_RETURN_IF_ERROR(StartShard());  // no tensors: TF still writes one empty shard
  BF_RETURN_IF_ERROR(FlushBuffer());
  Shard& last = shards_.back();
  const Status s = last.file->Close();
  if (!s.ok()) return Fail(s);
  last.file.reset();
  return Status::OK();
}

Status BundleWriter::WriteIndex(std::string* index_temp) {
  BundleHeader header;
  header.num_shards = num_shards();
  header.producer = kTensorBundleProducer;
  // Byte order of the payloads: the host's, as TF writes it.
  const uint16_t probe = 1;
  char first;
  std::memcpy(&first, &probe, 1);
  header.endianness = first == 1 ? 0 : 1;

  TableBuilder table;
  // Keys are prefix-compressed, each entry's value is ~20 bytes: an upper estimate.
  table.Reserve(keys_.size() + 32 * records_.size() + 4096);
  std::string value;
  EncodeBundleHeader(header, &value);
  BF_RETURN_IF_ERROR(table.Add("", value));
  BundleEntry entry;  // reused: its shape vector keeps its capacity
  for (const uint32_t i : KeyOrder()) {
    const Record& r = records_[i];
    entry.dtype = r.dtype;
    entry.shape.assign(dims_.begin() + r.dims_offset, dims_.begin() + r.dims_offset + r.rank);
    entry.shard_id = r.shard_id;
    entry.offset = r.offset;
    entry.size = r.size;
    entry.masked_crc32c = r.masked_crc32c;
    if (r.partitioned != nullptr) {
      entry.slices = r.partitioned->slices;
    } else {
      entry.slices.clear();
    }
    value.clear();
    EncodeBundleEntry(entry, &value);
    BF_RETURN_IF_ERROR(table.Add(KeyOf(r), value));
  }
  const std::string bytes = table.Finish();
  *index_temp = TempIndexFilename(prefix_, token_);
  std::unique_ptr<WritableFile> file;
  Status s = WritableFile::Create(*index_temp, &file);
  if (s.ok()) s = file->Append(bytes.data(), bytes.size());
  if (s.ok()) s = file->Close();
  if (!s.ok()) return Fail(s);
  return Status::OK();
}

Status BundleWriter::Finish() {
  BF_RETURN_IF_ERROR(CheckUsable());
  for (const auto& [name, p] : partitioned_) {
    uint64_t covered = 0;
    for (const Box& b : p.boxes) covered += b.NumElements();
    const uint64_t total = FullBox(p.full_shape).NumElements();
    if (covered != total) {
      return Fail(Status::InvalidArgument(prefix_ + ": the slices of tensor " + QuotedKey(name) + " cover " +
                                     std::to_string(covered) + " of its " + std::to_string(total) +
                                     " elements (full shape " + ShapeString(p.full_shape) +
                                     "); add the missing slices"));
    }
  }
  for (const auto& [name, p] : partitioned_) {
    NewRecord(name, p.dtype, p.full_shape.data(), p.full_shape.size()).partitioned = &p;
  }
  BF_RETURN_IF_ERROR(CloseShards());
  std::string index_temp;
  BF_RETURN_IF_ERROR(WriteIndex(&index_temp));
  if (options_.sync) BF_RETURN_IF_ERROR(SyncAll(index_temp));
  const Status s = Commit(index_temp);
  if (!s.ok()) return Fail(s);
  finished_ = true;
  RemoveLeftovers();
  return Status::OK();
}

Status BundleWriter::SyncAll(const std::string& index_temp) {
  // Every file's bytes must be on disk before any rename makes it visible. The
  // fsyncs run side by side: each waits mostly on the device, and on a busy
  // machine one fsync can take a second, so waiting for them in turn adds up.
  std::vector<std::string> paths;
  for (const Shard& shard : shards_) paths.push_back(shard.temp_path);
  paths.push_back(index_temp);
  std::vector<Status> results(paths.size());
  ParallelFor(paths.size(), static_cast<int>(std::min<size_t>(paths.size(), 8)),
              [&](size_t i) { results[i] = SyncFile(paths[i]); });
  for (Status& s : results) {
    if (!s.ok()) return Fail(std::move(s));
  }
  return Status::OK();
}

Status BundleWriter::Commit(const std::string& index_temp) {
  std::string dir, base;
  SplitPrefix(prefix_, &dir, &base);
  const std::string index = IndexFilename(prefix_);
  // The old index goes first: once any old data file is replaced, the old
  // index must not be there to point into it.
  if (FileExists(index)) {
    BF_RETURN_IF_ERROR(RemoveFile(index, /*missing_ok=*/true));
    if (options_.sync) BF_RETURN_IF_ERROR(SyncDirectory(dir));
  }
  for (size_t i = 0; i < shards_.size(); ++i) {
    BF_RETURN_IF_ERROR(
        RenameFile(shards_[i].temp_path, DataFilename(prefix_, static_cast<int32_t>(i), num_shards())));
    shards_[i].temp_path.clear();  // renamed: no longer ours to remove
  }
  if (options_.sync) BF_RETURN_IF_ERROR(SyncDirectory(dir));
  BF_RETURN_IF_ERROR(RenameFile(index_temp, index));  // the commit point
  if (options_.sync) BF_RETURN_IF_ERROR(SyncDirectory(dir));
  return Status::OK();
}

void BundleWriter::RemoveLeftovers() {
  std::string dir, base;
  SplitPrefix(prefix_, &dir, &base);
  std::vector<std::string> names;
  if (!ListDirectory(dir, &names).ok()) return;  // best effort: the save itself succeeded
  const std::string sep = dir == "/" ? "" : "/";
  for (const std::string& name : names) {
    int64_t shard = -1, count = -1;
    const PrefixFileKind kind = ClassifyPrefixFile(base, name, &shard, &count);
    const bool stale_shard = kind == PrefixFileKind::kDataShard && (count != num_shards() || shard >= count);
    if (kind == PrefixFileKind::kTemp || stale_shard) (void)RemoveFile(dir + sep + name, /*missing_ok=*/true);
  }
}

void BundleWriter::Abort() {
  if (finished_) return;
  finished_ = true;
  for (Shard& shard : shards_) {
    shard.file.reset();
    if (!shard.temp_path.empty()) (void)RemoveFile(shard.temp_path, /*missing_ok=*/true);
  }
  (void)RemoveFile(TempIndexFilename(prefix_, token_), /*missing_ok=*/true);
}

}  // namespace bundlefast
