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
                     const std::vector<size_t>& tensor_of, EntryOf entry_of) {
  size_t bad = SIZE_MAX;
  for (size_t j = 0; j < jobs.size(); ++j) {
    if (!jobs[j].checksum || crcs[j] == crc32c::Unmask(entry_of(j)->masked_crc32c)) continue;
    if (bad == SIZE_MAX || tensor_of[j] < tensor_of[bad]) bad = j;
  }
  return bad;
}
}  // namespace

ReadPlan::~ReadPlan() = default;

Status ReadPlan::Make(BundleReader* reader, const std::vector<ReadRequest>& requests, const ReadOptions& options,
                      std::unique_ptr<ReadPlan>* out) {
  if (requests.size() >= BundleReader::kNoPayload) {  // positions are 32-bit (file_order_)
    return Status::InvalidArgument("cannot read " + std::to_string(requests.size()) + " tensors in one call");
  }
  std::unique_ptr<ReadPlan> plan(new ReadPlan());
  plan->reader_ = reader;
  plan->options_ = options;
  plan->swap_ = reader->needs_byte_swap();
  plan->tensors_.resize(requests.size());
  bool all_views = true;  // every whole tensor can be a view of its source
  BundleReader::Locator locator(reader);
  for (size_t k = 0; k < requests.size(); ++k) {
    const ReadRequest& q = requests[k];
    TensorRead& t = plan->tensors_[k];
    t.index = q.index;
    BF_RETURN_IF_ERROR(reader->entry(q.index, &t.entry));
    t.itemsize = DataTypeSize(t.entry->dtype);
    if (!q.has_region && t.entry->slices.empty()) {
      BF_RETURN_IF_ERROR(locator.Locate(q.index, *t.entry, &t.payload));
      all_views = all_views && t.payload.view;
      continue;
    }
    t.region = std::make_unique<RegionRead>();
    t.region->given = q.has_region;
    t.region->request = q.has_region ? q.region : FullBox(t.entry->shape);
    BF_RETURN_IF_ERROR(reader->FindParts(q.index, t.region->request, &t.region->parts));
  }
  // Views only (the usual `load`): no byte jobs, no order needed.
  const bool byte_jobs = options.verify || options.copy || plan->swap_ || !all_views;
  plan->OrderByFile(byte_jobs);
  *out = std::move(plan);
  return Status::OK();
}

void ReadPlan::OrderByFile(bool by_file) {
  const size_t n = tensors_.size();
  file_order_.clear();
  if (!by_file) return;  // empty: request order
  file_order_.reserve(n);
  const auto rank = [&](size_t k) {
    return tensors_[k].region && !tensors_[k].region->given ? BundleReader::kNoPayload
                                                            : reader_->file_rank(tensors_[k].index);
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
    if (!t.region) {
      out.push_back(Fetch{t.entry->shard_id, t.payload.offset, t.payload.size});
      continue;
    }
    // As Prepare: a fixed-width part read without verification (and filled)
    // fetches only the span the region needs; anything else the whole payload.
    const int itemsize = DataTypeSize(t.entry->dtype);
    for (const BundleReader::Part& p : t.region->parts) {
      uint64_t begin = 0, end = p.payload.size;
      if (itemsize > 0 && !options_.verify && options_.fill) {
        NeededSpan(p.stored, p.needed, itemsize, &begin, &end);
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

Status ReadPlan::ReadError(const Status& s, size_t index, const BundleReader::Payload& p, const char* what) const {
  const std::string& path = p.source->path();
  const std::string context = path + ": " + what + reader_->Name(index) + " (offset " + std::to_string(p.offset) +
                              ", " + std::to_string(p.size) + " bytes)";
  if (s.code() != Status::Code::kIOError) return s.WithContext(context);
  std::string reason = s.message();
  if (reason.compare(0, path.size() + 2, path + ": ") == 0) reason.erase(0, path.size() + 2);
  return Status::IOError(context + " could not be read: " + reason, s.error_number() ? s.error_number() : EIO,
                         path);
}

Status ReadPlan::ChecksumError(size_t index, const BundleReader::Payload& p, uint32_t computed) const {
  return Status::ChecksumMismatch(p.source->path() + ": crc32c mismatch for " + reader_->Name(index) +
                                  " (offset " + std::to_string(p.offset) + ", " + std::to_string(p.size) +
                                  " bytes): stored " + Hex32(crc32c::Unmask(p.entry->masked_crc32c)) +
                                  ", computed " + Hex32(computed));
}

Status ReadPlan::Decode(size_t index, const BundleReader::Payload& p, const char* bytes,
                        std::vector<StringRef>* refs) const {
  const bool variant = p.entry->dtype == DT_VARIANT;
  if (variant && swap_) {
    return Status::NotSupported(reader_->Where(index) +
                                " is a DT_VARIANT tensor in a bundle of the other byte order; byte-swapping the "
                                "tensors nested in variants is not implemented (TF refuses too)");
  }
  const char* what = variant ? "variant tensor " : "string tensor ";
  const bool big_endian = reader_->header().endianness == 1;
  Status s;
  if (!GuardMappedRead(bytes, p.size, [&] {
        s = variant ? DecodeVariantTensor(bytes, p.size, p.num_elements, options_.verify, p.entry->masked_crc32c,
                                          refs)
                    : DecodeStringTensor(bytes, p.size, p.num_elements, big_endian, options_.verify,
                                         p.entry->masked_crc32c, refs);
      })) {
    return ReadError(ShrunkFileError(p.source->path(), "SIGBUS"), index, p, what);
  }
  return s.WithContext(p.source->path() + ": " + what + reader_->Name(index) + " (offset " +
                       std::to_string(p.offset) + ", " + std::to_string(p.size) + " bytes)");
}

Status ReadPlan::Prepare() {
  EnsureSigbusHandler();  // before any guarded read of this call (sigbus_guard.h)
  const bool verify = options_.verify;
  const bool fill = options_.fill;
  const bool may_view = fill && !options_.copy && !swap_;
  // Byte jobs: checksums of views, and fetches from sources that cannot View.
  // Made in file order; errors name the first tensor in request order.
  std::vector<ByteJob> jobs;
  std::vector<size_t> owner_tensor;  // per job: its tensor k
  std::vector<size_t> owner_part;    // and its part (SIZE_MAX: the tensor's own payload)
  const auto add = [&](size_t k, size_t part, const BundleReader::Payload& p, uint64_t begin, uint64_t end,
                       char* dst, bool checksum) {
    jobs.push_back(ByteJob{p.source.get(), p.offset + begin, end - begin, dst, 1, checksum});
    owner_tensor.push_back(k);
    owner_part.push_back(part);
  };
  if (verify) {  // then most tensors have a job here
    jobs.reserve(tensors_.size());
    owner_tensor.reserve(tensors_.size());
    owner_part.reserve(tensors_.size());
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const size_t k = file_order_.empty() ? i : file_order_[i];
    TensorRead& t = tensors_[k];
    const int itemsize = t.itemsize;
    if (!t.region) {
      const BundleReader::Payload& p = t.payload;
      if (itemsize == 0) {  // strings and variants: decoded below, from a view or fetched bytes
        if (!p.view) {
          t.fetched.reset(new char[p.size ? p.size : 1]);
          add(k, SIZE_MAX, p, 0, p.size, t.fetched.get(), false);
        }
        continue;
      }
      if (may_view && p.view) t.view = p.view;
      if (!verify) continue;
      if (fill && !t.view) {
        t.verify_in_fill = true;  // one pass over the bytes: copy and checksum together
      } else {
        add(k, SIZE_MAX, p, 0, p.size, nullptr, true);
      }
      continue;
    }
    RegionRead& r = *t.region;
    uint64_t first = 0;
    if (itemsize > 0 && r.given && may_view && r.parts.size() == 1 && r.parts[0].payload.view &&
        ContiguousIn(r.parts[0].needed, r.parts[0].stored, &first)) {
      t.view = r.parts[0].payload.view + first * static_cast<uint64_t>(itemsize);
    }
    r.fetched.resize(r.parts.size());
    r.fetched_begin.assign(r.parts.size(), 0);
    for (size_t q = 0; q < r.parts.size(); ++q) {
      const BundleReader::Payload& p = r.parts[q].payload;
      if (p.view) {
        if (itemsize > 0 && verify) add(k, q, p, 0, p.size, nullptr, true);
        continue;
      }
      if (itemsize > 0 && !fill) {  // verification only: nothing to keep
        if (verify) add(k, q, p, 0, p.size, nullptr, true);
        continue;
      }
      uint64_t begin = 0, end = p.size;
      if (itemsize > 0 && !verify) NeededSpan(r.parts[q].stored, r.parts[q].needed, itemsize, &begin, &end);
      if (begin == end && itemsize > 0) continue;
      r.fetched[q].reset(new char[end > begin ? end - begin : 1]);
      r.fetched_begin[q] = begin;
      add(k, q, p, begin, end, r.fetched[q].get(), itemsize > 0 && verify);
    }
  }
  const auto payload_of = [&](size_t j) -> const BundleReader::Payload& {
    const TensorRead& t = tensors_[owner_tensor[j]];
    return owner_part[j] == SIZE_MAX ? t.payload : t.region->parts[owner_part[j]].payload;
  };
  const auto index_of = [&](size_t j) {
    const TensorRead& t = tensors_[owner_tensor[j]];
    return owner_part[j] == SIZE_MAX ? t.index : t.region->parts[owner_part[j]].index;
  };
  if (!jobs.empty()) {
    std::vector<uint32_t> crcs;
    size_t failed;
    Status s = RunByteJobs(jobs, options_.threads, &crcs, &failed, &owner_tensor);
    if (!s.ok()) {
      const TensorRead& t = tensors_[owner_tensor[failed]];
      const char* what = t.itemsize != 0 ? "" : t.entry->dtype == DT_VARIANT ? "variant tensor " : "string tensor ";
      return ReadError(s, index_of(failed), payload_of(failed), what);
    }
    const size_t bad = FirstMismatch(jobs, crcs, owner_tensor, [&](size_t j) { return payload_of(j).entry; });
    if (bad != SIZE_MAX) return ChecksumError(index_of(bad), payload_of(bad), crcs[bad]);
  }

  // Strings and variants: decode every stored payload (in parallel), then
  // gather the elements of regions in request order.
  struct Decoding {
    size_t index;
    const BundleReader::Payload* payload;
    const char* bytes;
    std::vector<StringRef>* refs;
  };
  std::vector<Decoding> decodings;
  for (TensorRead& t : tensors_) {
    if (t.itemsize != 0) continue;
    if (!t.region) {
      decodings.push_back(Decoding{t.index, &t.payload, t.bytes(), &t.refs});
      continue;
    }
    t.region->part_refs.resize(t.region->parts.size());
    for (size_t q = 0; q < t.region->parts.size(); ++q) {
      decodings.push_back(Decoding{t.region->parts[q].index, &t.region->parts[q].payload, t.part_bytes(q),
                                   &t.region->part_refs[q]});
    }
  }
  std::vector<Status> errors(decodings.size());
  ParallelFor(decodings.size(), options_.threads, [&](size_t j) {
    const Decoding& d = decodings[j];
    errors[j] = Decode(d.index, *d.payload, d.bytes, d.refs);
  });
  for (const Status& s : errors) BF_RETURN_IF_ERROR(s);
  for (TensorRead& t : tensors_) {
    if (!t.region || t.itemsize != 0) continue;
    RegionRead& r = *t.region;
    r.elements.assign(static_cast<size_t>(r.request.NumElements()), ElementBytes{nullptr, 0});
    for (size_t q = 0; q < r.parts.size(); ++q) {
      const char* base = t.part_bytes(q);
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
  size_t index = t.index;
  const BundleReader::Payload* p = &t.payload;
  for (size_t q = 0; t.region && q < t.region->parts.size(); ++q) {
    const char* base = t.part_bytes(q);
    if (e.data >= base && e.data <= base + t.region->parts[q].payload.size) {
      index = t.region->parts[q].index;
      p = &t.region->parts[q].payload;
    }
  }
  return ReadError(ShrunkFileError(p->source->path(), "SIGBUS"), index, *p, what);
}

Status ReadPlan::Fill(const std::vector<char*>& dst) {
  std::vector<ByteJob> jobs;  // whole tensors
  std::vector<size_t> job_tensor;
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
    if (itemsize == 0 || t.view) continue;
    const int unit = swap_ ? DataTypeSwapUnit(t.entry->dtype) : 1;
    if (!t.region) {
      jobs.push_back(ByteJob{t.payload.source.get(), t.payload.offset, t.payload.size, dst[k], unit,
                             t.verify_in_fill});
      job_tensor.push_back(k);
      continue;
    }
    const uint64_t chunk = kCopyChunkBytes / static_cast<uint64_t>(itemsize);
    for (size_t q = 0; q < t.region->parts.size(); ++q) {
      for (Box& box : SplitRegion(t.region->parts[q].needed, chunk)) copies.push_back(RegionCopy{k, q, std::move(box)});
    }
  }
  if (!jobs.empty()) {
    std::vector<uint32_t> crcs;
    size_t failed;
    Status s = RunByteJobs(jobs, options_.threads, &crcs, &failed, &job_tensor);
    if (!s.ok()) return ReadError(s, tensors_[job_tensor[failed]].index, tensors_[job_tensor[failed]].payload);
    const size_t bad = FirstMismatch(jobs, crcs, job_tensor, [&](size_t j) { return tensors_[job_tensor[j]].entry; });
    if (bad != SIZE_MAX) {
      return ChecksumError(tensors_[job_tensor[bad]].index, tensors_[job_tensor[bad]].payload, crcs[bad]);
    }
  }
  std::vector<unsigned char> faulted(copies.size(), 0);
  ParallelFor(copies.size(), options_.threads, [&](size_t j) {
    const RegionCopy& c = copies[j];
    const TensorRead& t = tensors_[c.k];
    const int itemsize = t.itemsize;
    const BundleReader::Part& part = t.region->parts[c.part];
    const uint64_t first = t.region->fetched_begin[c.part] / static_cast<uint64_t>(itemsize);
    faulted[j] = !CopyRegion(dst[c.k], t.region->request, t.part_bytes(c.part), first, part.stored, c.box, itemsize,
                             swap_ ? DataTypeSwapUnit(t.entry->dtype) : 1);
  });
  size_t first = SIZE_MAX;  // the fault of the tensor first in the request
  for (size_t j = 0; j < copies.size(); ++j) {
    if (faulted[j] && (first == SIZE_MAX || copies[j].k < copies[first].k)) first = j;
  }
  if (first != SIZE_MAX) {
    const BundleReader::Part& part = tensors_[copies[first].k].region->parts[copies[first].part];
    return ReadError(ShrunkFileError(part.payload.source->path(), "SIGBUS"), part.index, part.payload);
  }
  return Status::OK();
}

}  // namespace bundlefast
