// bundlefast: ReadPlan (see read_plan.h).
//
// Work is batched across tensors, not done tensor by tensor: all checksums of
// a Prepare run as one set of ByteJobs (threads share big tensors and many
// small ones alike), all copies of a Fill as another, and strings decode in
// parallel. A result is a view only when it can be one for free: a
// fixed-width tensor (or contiguous region of one stored part) from a source
// that can View, with no copy and no byte swap asked for.
#include "read_plan.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "byte_jobs.h"
#include "crc32c.h"
#include "dtype.h"
#include "file_source.h"
#include "parallel.h"
#include "sigbus_guard.h"
#include "variant_tensor.h"

namespace bundlefast {

namespace {
// Region copies are cut into pieces of about this many bytes, so that one big
// region is shared by the threads.
constexpr uint64_t kCopyChunkBytes = 4ull << 20;

// The part of `stored` that `needed` touches, as a byte span [begin, end) of
// its row-major payload (itemsize-byte elements). Empty if `needed` is.
void NeededSpan(const Box& stored, const Box& needed, int itemsize, uint64_t* begin, uint64_t* end) {
  uint64_t lo = UINT64_MAX, hi = 0;
  ForEachRun(stored, stored, needed, [&](uint64_t, uint64_t s, uint64_t n) {
    lo = std::min(lo, s);
    hi = std::max(hi, s + n);
  });
  if (lo > hi) lo = hi = 0;
  *begin = lo * static_cast<uint64_t>(itemsize);
  *end = hi * static_cast<uint64_t>(itemsize);
}

// The checksummed job whose CRC does not match its entry's, of the tensor
// first in the request (jobs are in file order), or SIZE_MAX.
template <typename EntryOf>
size_t FirstMismatch(const std::vector<ByteJob>& jobs, const std::vector<uint32_t>& crcs,
                     const std::vector<uint32_t>& tensor_of, EntryOf entry_of) {
  size_t bad = SIZE_MAX;
  for (size_t j = 0; j < jobs.size(); ++j) {
    if (!jobs[j].checksum || crcs[j] == crc32c::Unmask(entry_of(j)->masked_crc32c)) continue;
    if (bad == SIZE_MAX || tensor_of[j] < tensor_of[bad]) bad = j;
  }
  return bad;
}
}  // namespace

// The stored bytes one job or message is about: a whole tensor's payload, or
// one part of a region. Made on the fly, so TensorRead need not hold one.
struct ReadPlan::Bytes {
  size_t index;  // the entry holding them (a slice entry for a part)
  const BundleEntry* entry;
  const ByteSource* source;
  uint64_t offset;
  uint64_t size;
  const char* view;  // in memory, or null (the source cannot View)
  uint64_t num_elements;
};

ReadPlan::~ReadPlan() = default;

template <typename IndexOf, typename RegionOf>
Status ReadPlan::MakeFrom(BundleReader* reader, size_t n, IndexOf index_of, RegionOf region_of,
                          const ReadOptions& options, std::unique_ptr<ReadPlan>* out) {
  if (n >= BundleReader::kNoPayload) {  // positions are 32-bit (file_order_, TensorRead::extra)
    return Status::InvalidArgument("cannot read " + std::to_string(n) + " tensors in one call");
  }
  std::unique_ptr<ReadPlan> plan(new ReadPlan());
  plan->reader_ = reader;
  plan->options_ = options;
  plan->swap_ = reader->needs_byte_swap();
  plan->tensors_.resize(n);
  bool all_views = true;  // every whole tensor can be a view of its source
  BundleReader::Locator locator(reader);
  const ByteSource* last_source = nullptr;  // sources_.back() unless a lookup says otherwise
  uint32_t last_slot = 0;
  for (size_t k = 0; k < n; ++k) {
    const size_t index = index_of(k);
    const Box* region = region_of(k);
    TensorRead& t = plan->tensors_[k];
    BF_RETURN_IF_ERROR(reader->entry(index, &t.entry));
    t.itemsize = static_cast<uint8_t>(DataTypeSize(t.entry->dtype));
    if (!region && t.entry->slices.empty()) {
      BF_RETURN_IF_ERROR(locator.Check(index, *t.entry, &t.bytes));
      all_views = all_views && t.bytes;
      if (locator.source().get() != last_source) {  // a shard change: rare, so a linear search is fine
        const std::shared_ptr<const ByteSource>& src = locator.source();
        const auto found = std::find(plan->sources_.begin(), plan->sources_.end(), src);
        last_slot = static_cast<uint32_t>(found - plan->sources_.begin());
        if (found == plan->sources_.end()) plan->sources_.push_back(src);
        last_source = src.get();
      }
      t.source = last_slot;
      if (t.itemsize == 0) {  // strings and variants keep their element ranges
        t.extra = static_cast<uint32_t>(plan->extras_.size());
        plan->extras_.emplace_back();
      }
      continue;
    }
    t.extra = static_cast<uint32_t>(plan->extras_.size());
    RegionRead& r = *(plan->extras_.emplace_back().region = std::make_unique<RegionRead>());
    r.given = region != nullptr;
    r.request = region ? *region : FullBox(t.entry->shape);
    BF_RETURN_IF_ERROR(reader->FindParts(index, r.request, &r.parts));
  }
  // Views only (the usual `load`): no byte jobs, no order needed.
  const bool byte_jobs = options.verify || options.copy || plan->swap_ || !all_views;
  plan->OrderByFile(byte_jobs);
  *out = std::move(plan);
  return Status::OK();
}

Status ReadPlan::Make(BundleReader* reader, const std::vector<ReadRequest>& requests, const ReadOptions& options,
                      std::unique_ptr<ReadPlan>* out) {
  return MakeFrom(
      reader, requests.size(), [&](size_t k) { return requests[k].index; },
      [&](size_t k) { return requests[k].has_region ? &requests[k].region : nullptr; }, options, out);
}

Status ReadPlan::Make(BundleReader* reader, const std::vector<size_t>& indices, const ReadOptions& options,
                      std::unique_ptr<ReadPlan>* out) {
  return MakeFrom(
      reader, indices.size(), [&](size_t k) { return indices[k]; }, [](size_t) -> const Box* { return nullptr; },
      options, out);
}

ReadPlan::Bytes ReadPlan::Whole(size_t k) const {
  const TensorRead& t = tensors_[k];
  const BundleEntry& e = *t.entry;
  return Bytes{reader_->position(e),
               &e,
               sources_[t.source].get(),
               static_cast<uint64_t>(e.offset),
               static_cast<uint64_t>(e.size),
               t.bytes,
               NumElements(e)};
}

ReadPlan::Bytes ReadPlan::PartBytes(size_t k, size_t q) const {
  const BundleReader::Part& part = extras_[tensors_[k].extra].region->parts[q];
  const BundleReader::Payload& p = part.payload;
  return Bytes{part.index, p.entry, p.source.get(), p.offset, p.size, p.view, p.num_elements};
}

void ReadPlan::OrderByFile(bool by_file) {
  const size_t n = tensors_.size();
  file_order_.clear();
  if (!by_file) return;  // empty: request order
  file_order_.reserve(n);
  const auto rank = [&](size_t k) {
    const TensorRead& t = tensors_[k];
    const RegionRead* r = t.extra == TensorRead::kNoExtra ? nullptr : extras_[t.extra].region.get();
    const bool partitioned = r && !r->given;
    return partitioned ? BundleReader::kNoPayload : reader_->file_rank(reader_->position(*t.entry));
  };
  // Many requests (a whole `load`): place each by its rank in one pass over
  // the ranks, if no rank repeats (a name asked for twice).
  if (n * 2 >= reader_->size()) {
    std::vector<uint32_t> at_rank(reader_->size(), BundleReader::kNoPayload);
    bool repeated = false;
    for (size_t k = 0; k < n && !repeated; ++k) {
      const uint32_t r = rank(k);
      if (r == BundleReader::kNoPayload) continue;
      repeated = at_rank[r] != BundleReader::kNoPayload;
      at_rank[r] = static_cast<uint32_t>(k);
    }
    if (!repeated) {
      for (uint32_t k : at_rank) {
        if (k != BundleReader::kNoPayload) file_order_.push_back(k);
      }
      for (size_t k = 0; k < n; ++k) {
        if (rank(k) == BundleReader::kNoPayload) file_order_.push_back(static_cast<uint32_t>(k));
      }
      return;
    }
    file_order_.clear();
  }
  // Few requests: sort (rank, position) pairs packed into integers.
  std::vector<uint64_t> keys(n);
  for (size_t k = 0; k < n; ++k) keys[k] = static_cast<uint64_t>(rank(k)) << 32 | k;
  std::sort(keys.begin(), keys.end());
  for (uint64_t key : keys) file_order_.push_back(static_cast<uint32_t>(key));
}

std::vector<ReadPlan::Fetch> ReadPlan::Fetches() const {
  std::vector<Fetch> out;
  for (const TensorRead& t : tensors_) {
    const RegionRead* r = t.extra == TensorRead::kNoExtra ? nullptr : extras_[t.extra].region.get();
    if (!r) {
      out.push_back(
          Fetch{t.entry->shard_id, static_cast<uint64_t>(t.entry->offset), static_cast<uint64_t>(t.entry->size)});
      continue;
    }
    // As Prepare: a fixed-width part read without verification (and filled)
    // fetches only the span the region needs; anything else the whole payload.
    for (const BundleReader::Part& p : r->parts) {
      uint64_t begin = 0, end = p.payload.size;
      if (t.itemsize > 0 && !options_.verify && options_.fill) {
        NeededSpan(p.stored, p.needed, t.itemsize, &begin, &end);
        if (begin == end) continue;
      }
      out.push_back(Fetch{p.payload.entry->shard_id, p.payload.offset + begin, end - begin});
    }
  }
  std::sort(out.begin(), out.end(), [](const Fetch& a, const Fetch& b) {
    return a.shard != b.shard ? a.shard < b.shard : a.offset < b.offset;
  });
  return out;
}

Status ReadPlan::ReadError(const Status& s, const Bytes& b, const char* what) const {
  const std::string& path = b.source->path();
  const std::string context = path + ": " + what + reader_->Name(b.index) + " (offset " + std::to_string(b.offset) +
                              ", " + std::to_string(b.size) + " bytes)";
  if (s.code() != Status::Code::kIOError) return s.WithContext(context);
  std::string reason = s.message();
  if (reason.compare(0, path.size() + 2, path + ": ") == 0) reason.erase(0, path.size() + 2);
  return Status::IOError(context + " could not be read: " + reason, s.error_number() ? s.error_number() : EIO,
                         path);
}

Status ReadPlan::ChecksumError(const Bytes& b, uint32_t computed) const {
  return Status::ChecksumMismatch(b.source->path() + ": crc32c mismatch for " + reader_->Name(b.index) +
                                  " (offset " + std::to_string(b.offset) + ", " + std::to_string(b.size) +
                                  " bytes): stored " + Hex32(crc32c::Unmask(b.entry->masked_crc32c)) +
                                  ", computed " + Hex32(computed));
}

Status ReadPlan::Decode(const Bytes& b, const char* bytes, std::vector<StringRef>* refs) const {
  const bool variant = b.entry->dtype == DT_VARIANT;
  if (variant && swap_) {
    return Status::NotSupported(reader_->Where(b.index) +
                                " is a DT_VARIANT tensor in a bundle of the other byte order; byte-swapping the "
                                "tensors nested in variants is not implemented (TF refuses too)");
  }
  const char* what = variant ? "variant tensor " : "string tensor ";
  const bool big_endian = reader_->header().endianness == 1;
  Status s;
  if (!GuardMappedRead(bytes, b.size, [&] {
        s = variant ? DecodeVariantTensor(bytes, b.size, b.num_elements, options_.verify, b.entry->masked_crc32c,
                                          refs)
                    : DecodeStringTensor(bytes, b.size, b.num_elements, big_endian, options_.verify,
                                         b.entry->masked_crc32c, refs);
      })) {
    return ReadError(ShrunkFileError(b.source->path(), "SIGBUS"), b, what);
  }
  return s.WithContext(b.source->path() + ": " + what + reader_->Name(b.index) + " (offset " +
                       std::to_string(b.offset) + ", " + std::to_string(b.size) + " bytes)");
}

Status ReadPlan::Prepare() {
  EnsureSigbusHandler();  // before any guarded read of this call (sigbus_guard.h)
  const bool verify = options_.verify;
  const bool fill = options_.fill;
  const bool may_view = fill && !options_.copy && !swap_;
  // Byte jobs: checksums of views, and fetches from sources that cannot View.
  // Made in file order; errors name the first tensor in request order.
  std::vector<ByteJob> jobs;
  std::vector<uint32_t> job_tensor;  // per job: its tensor k
  std::vector<uint32_t> job_part;    // and its part (kWhole: the tensor's own payload)
  constexpr uint32_t kWhole = UINT32_MAX;
  const auto add = [&](size_t k, uint32_t part, const ByteSource* source, uint64_t offset, uint64_t size, char* dst,
                       bool checksum) {
    jobs.push_back(ByteJob{source, offset, size, dst, 1, checksum});
    job_tensor.push_back(static_cast<uint32_t>(k));
    job_part.push_back(part);
  };
  if (verify) {  // then most tensors have a job here
    jobs.reserve(tensors_.size());
    job_tensor.reserve(tensors_.size());
    job_part.reserve(tensors_.size());
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const size_t k = file_order_.empty() ? i : file_order_[i];
    TensorRead& t = tensors_[k];
    const int itemsize = t.itemsize;
    if (t.extra == TensorRead::kNoExtra || !extras_[t.extra].region) {
      const auto offset = static_cast<uint64_t>(t.entry->offset);
      const auto size = static_cast<uint64_t>(t.entry->size);
      const ByteSource* source = sources_[t.source].get();
      if (itemsize == 0) {  // strings and variants: decoded below, from a view or fetched bytes
        if (!t.bytes) {
          Extra& x = extras_[t.extra];
          x.fetched.reset(new char[size ? size : 1]);
          add(k, kWhole, source, offset, size, x.fetched.get(), false);
        }
        continue;
      }
      t.is_view = may_view && t.bytes;
      if (!verify) continue;
      if (fill && !t.is_view) {
        t.verify_in_fill = true;  // one pass over the bytes: copy and checksum together
      } else {
        add(k, kWhole, source, offset, size, nullptr, true);
      }
      continue;
    }
    RegionRead& r = *extras_[t.extra].region;
    uint64_t first = 0;
    if (itemsize > 0 && r.given && may_view && r.parts.size() == 1 && r.parts[0].payload.view &&
        ContiguousIn(r.parts[0].needed, r.parts[0].stored, &first)) {
      t.bytes = r.parts[0].payload.view + first * static_cast<uint64_t>(itemsize);
      t.is_view = true;
    }
    r.fetched.resize(r.parts.size());
    r.fetched_begin.assign(r.parts.size(), 0);
    for (size_t q = 0; q < r.parts.size(); ++q) {
      const BundleReader::Payload& p = r.parts[q].payload;
      const auto part = static_cast<uint32_t>(q);
      if (p.view) {
        if (itemsize > 0 && verify) add(k, part, p.source.get(), p.offset, p.size, nullptr, true);
        continue;
      }
      if (itemsize > 0 && !fill) {  // verification only: nothing to keep
        if (verify) add(k, part, p.source.get(), p.offset, p.size, nullptr, true);
        continue;
      }
      uint64_t begin = 0, end = p.size;
      if (itemsize > 0 && !verify) NeededSpan(r.parts[q].stored, r.parts[q].needed, itemsize, &begin, &end);
      if (begin == end && itemsize > 0) continue;
      r.fetched[q].reset(new char[end > begin ? end - begin : 1]);
      r.fetched_begin[q] = begin;
      add(k, part, p.source.get(), p.offset + begin, end - begin, r.fetched[q].get(), itemsize > 0 && verify);
    }
  }
  const auto bytes_of = [&](size_t j) {
    return job_part[j] == kWhole ? Whole(job_tensor[j]) : PartBytes(job_tensor[j], job_part[j]);
  };
  if (!jobs.empty()) {
    std::vector<uint32_t> crcs;
    size_t failed;
    Status s = RunByteJobs(jobs, options_.threads, &crcs, &failed, &job_tensor);
    if (!s.ok()) {
      const Bytes b = bytes_of(failed);
      const char* what = b.entry->dtype == DT_VARIANT ? "variant tensor "
                         : b.entry->dtype == DT_STRING ? "string tensor "
                                                       : "";
      return ReadError(s, b, what);
    }
    const size_t bad = FirstMismatch(jobs, crcs, job_tensor, [&](size_t j) { return bytes_of(j).entry; });
    if (bad != SIZE_MAX) return ChecksumError(bytes_of(bad), crcs[bad]);
  }

  // Strings and variants: decode every stored payload (in parallel), then
  // gather the elements of regions in request order.
  struct Decoding {
    Bytes stored;
    const char* bytes;
    std::vector<StringRef>* refs;
  };
  std::vector<Decoding> decodings;
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const TensorRead& t = tensors_[k];
    if (t.itemsize != 0) continue;
    Extra& x = extras_[t.extra];
    if (!x.region) {
      decodings.push_back(Decoding{Whole(k), t.bytes ? t.bytes : x.fetched.get(), &x.refs});
      continue;
    }
    x.region->part_refs.resize(x.region->parts.size());
    for (size_t q = 0; q < x.region->parts.size(); ++q) {
      decodings.push_back(Decoding{PartBytes(k, q), x.region->part_bytes(q), &x.region->part_refs[q]});
    }
  }
  std::vector<Status> errors(decodings.size());
  ParallelFor(decodings.size(), options_.threads, [&](size_t j) {
    const Decoding& d = decodings[j];
    errors[j] = Decode(d.stored, d.bytes, d.refs);
  });
  for (const Status& s : errors) BF_RETURN_IF_ERROR(s);
  for (const TensorRead& t : tensors_) {
    if (t.itemsize != 0 || !extras_[t.extra].region) continue;
    RegionRead& r = *extras_[t.extra].region;
    r.elements.assign(static_cast<size_t>(r.request.NumElements()), ElementBytes{nullptr, 0});
    for (size_t q = 0; q < r.parts.size(); ++q) {
      const char* base = r.part_bytes(q);
      const std::vector<StringRef>& refs = r.part_refs[q];
      ForEachRun(r.request, r.parts[q].stored, r.parts[q].needed, [&](uint64_t d, uint64_t s, uint64_t n) {
        for (uint64_t e = 0; e < n; ++e) {
          const StringRef& ref = refs[static_cast<size_t>(s + e)];
          r.elements[static_cast<size_t>(d + e)] = ElementBytes{base + ref.offset, ref.length};
        }
      });
    }
  }
  return Status::OK();
}

Status ReadPlan::CopyElement(size_t k, uint64_t j, char* dst) const {
  const ElementBytes e = element(k, j);
  if (e.size == 0) return Status::OK();  // dst may be null then (memcpy's arguments may not)
  if (GuardMappedRead(e.data, e.size, [&] { std::memcpy(dst, e.data, static_cast<size_t>(e.size)); })) {
    return Status::OK();
  }
  // Which stored payload holds the element (for the message).
  const TensorRead& t = tensors_[k];
  const char* what = t.entry->dtype == DT_VARIANT ? "variant tensor " : "string tensor ";
  const RegionRead* r = extras_[t.extra].region.get();
  Bytes b = r ? PartBytes(k, 0) : Whole(k);
  for (size_t q = 1; r && q < r->parts.size(); ++q) {
    const char* base = r->part_bytes(q);
    if (e.data >= base && e.data <= base + r->parts[q].payload.size) b = PartBytes(k, q);
  }
  return ReadError(ShrunkFileError(b.source->path(), "SIGBUS"), b, what);
}

Status ReadPlan::Fill(const std::vector<char*>& dst) {
  std::vector<ByteJob> jobs;  // whole tensors
  std::vector<uint32_t> job_tensor;
  struct RegionCopy {
    size_t k;
    size_t part;
    Box box;
  };
  std::vector<RegionCopy> copies;
  jobs.reserve(tensors_.size());
  job_tensor.reserve(tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const size_t k = file_order_.empty() ? i : file_order_[i];
    const TensorRead& t = tensors_[k];
    const int itemsize = t.itemsize;
    if (itemsize == 0 || t.is_view) continue;
    const int unit = swap_ ? DataTypeSwapUnit(t.entry->dtype) : 1;
    const RegionRead* r = t.extra == TensorRead::kNoExtra ? nullptr : extras_[t.extra].region.get();
    if (!r) {
      jobs.push_back(ByteJob{sources_[t.source].get(), static_cast<uint64_t>(t.entry->offset),
                             static_cast<uint64_t>(t.entry->size), dst[k], unit, t.verify_in_fill});
      job_tensor.push_back(static_cast<uint32_t>(k));
      continue;
    }
    const uint64_t chunk = kCopyChunkBytes / static_cast<uint64_t>(itemsize);
    for (size_t q = 0; q < r->parts.size(); ++q) {
      for (Box& box : SplitRegion(r->parts[q].needed, chunk)) copies.push_back(RegionCopy{k, q, std::move(box)});
    }
  }
  if (!jobs.empty()) {
    std::vector<uint32_t> crcs;
    size_t failed;
    Status s = RunByteJobs(jobs, options_.threads, &crcs, &failed, &job_tensor);
    if (!s.ok()) return ReadError(s, Whole(job_tensor[failed]));
    const size_t bad =
        FirstMismatch(jobs, crcs, job_tensor, [&](size_t j) { return tensors_[job_tensor[j]].entry; });
    if (bad != SIZE_MAX) return ChecksumError(Whole(job_tensor[bad]), crcs[bad]);
  }
  std::vector<unsigned char> faulted(copies.size(), 0);
  ParallelFor(copies.size(), options_.threads, [&](size_t j) {
    const RegionCopy& c = copies[j];
    const TensorRead& t = tensors_[c.k];
    const RegionRead& r = *extras_[t.extra].region;
    const int itemsize = t.itemsize;
    const uint64_t first = r.fetched_begin[c.part] / static_cast<uint64_t>(itemsize);
    faulted[j] = !CopyRegion(dst[c.k], r.request, r.part_bytes(c.part), first, r.parts[c.part].stored, c.box,
                             itemsize, swap_ ? DataTypeSwapUnit(t.entry->dtype) : 1);
  });
  size_t first = SIZE_MAX;  // the fault of the tensor first in the request
  for (size_t j = 0; j < copies.size(); ++j) {
    if (faulted[j] && (first == SIZE_MAX || copies[j].k < copies[first].k)) first = j;
  }
  if (first != SIZE_MAX) {
    const Bytes b = PartBytes(copies[first].k, copies[first].part);
    return ReadError(ShrunkFileError(b.source->path(), "SIGBUS"), b);
  }
  return Status::OK();
}

Status RegionRequest(size_t index, const std::vector<int64_t>& start, const std::vector<int64_t>& stop,
                     ReadRequest* out) {
  if (start.size() != stop.size()) {
    return Status::InvalidArgument("start and stop must have one bound per dimension");
  }
  *out = ReadRequest{index, true, {}};
  out->region.start = start;
  out->region.size.reserve(start.size());
  for (size_t d = 0; d < start.size(); ++d) {
    // -1 for a backwards or negative bound (FindParts refuses it): stop - start could overflow.
    out->region.size.push_back(stop[d] >= start[d] && start[d] >= 0 ? stop[d] - start[d] : -1);
  }
  return Status::OK();
}

Status VerifyTensors(BundleReader* reader, const std::vector<size_t>& indices, int threads) {
  std::unique_ptr<ReadPlan> plan;
  BF_RETURN_IF_ERROR(ReadPlan::Make(reader, indices, ReadOptions{true, false, false, threads}, &plan));
  return plan->Prepare();
}

Status ReadTensorInto(BundleReader* reader, size_t index, char* dst, uint64_t size, bool verify, int threads) {
  std::unique_ptr<ReadPlan> plan;
  const std::vector<size_t> indices{index};
  BF_RETURN_IF_ERROR(ReadPlan::Make(reader, indices, ReadOptions{verify, true, true, threads}, &plan));
  BF_RETURN_IF_ERROR(plan->Prepare());
  if (plan->elementwise(0)) {
    return Status::InvalidArgument(reader->Where(index) +
                                   " is a string or variant tensor: it has no fixed byte size to read into");
  }
  if (plan->ResultBytes(0) != size) {
    return Status::InvalidArgument(reader->Where(index) + " takes " + std::to_string(plan->ResultBytes(0)) +
                                   " bytes, but the buffer holds " + std::to_string(size));
  }
  return plan->Fill({dst});
}

}  // namespace bundlefast
