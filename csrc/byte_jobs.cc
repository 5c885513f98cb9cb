// bundlefast: threaded checksums and copies over byte ranges of sources.
#include "byte_jobs.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <tuple>
#include <utility>

#include "crc32c.h"
#include "file_source.h"
#include "parallel.h"
#include "sigbus_guard.h"

namespace bundlefast {

namespace {
// Big enough that per-piece overhead (a Combine is ~100 ns) is invisible, small
// enough that two threads share a 100 MB tensor evenly. A multiple of every
// swap unit, so pieces never split an element.
constexpr uint64_t kPieceSize = 4ull << 20;
// Pieces are handed to threads in batches of at least this many bytes, so
// 50,000 tiny tensors cost a few hundred atomic claims, not 50,000.
constexpr uint64_t kBatchBytes = 256ull << 10;
// Work per thread below which another thread is not worth waking: a 5 KB
// checkpoint is checksummed in microseconds, faster than a wake-up.
constexpr uint64_t kMinBytesPerThread = 1ull << 20;
// Bytes read (not viewed) are checksummed in chunks this big, right after
// each chunk lands, while it is still in cache.
constexpr uint64_t kHotChunk = 256ull << 10;
// Pieces smaller than this are copied straight out of a view (with the byte
// swap in the same pass); bigger ones go through ByteSource::Read, which for a
// mapping is pread() into dst (MappedFile::Read says why). 50,000 tiny
// tensors are then 50,000 guarded memcpys, not 50,000 virtual calls or syscalls.
constexpr uint64_t kViewCopyBelow = 64ull << 10;

struct Piece {
  size_t job;
  uint64_t offset;  // within the job
  uint64_t size;
};

// The pieces of every job, and the batches they are handed out in.
struct Plan {
  std::vector<Piece> pieces;        // the pieces of one job are consecutive and in order
  std::vector<size_t> batch_begin;  // batch b is pieces [batch_begin[b], batch_begin[b + 1])
  uint64_t total = 0;               // bytes
  size_t num_batches() const { return batch_begin.size() - 1; }
};

Plan MakePlan(const std::vector<ByteJob>& jobs) {
  Plan plan;
  std::vector<std::tuple<const ByteSource*, uint64_t, size_t>> order(jobs.size());
  bool sorted = true;
  for (size_t i = 0; i < jobs.size(); ++i) {
    order[i] = {jobs[i].source, jobs[i].offset, i};
    sorted = sorted && (i == 0 || order[i - 1] <= order[i]);
  }
  if (!sorted) std::sort(order.begin(), order.end());
  plan.pieces.reserve(jobs.size());
  uint64_t batch_bytes = kBatchBytes;  // so the first piece starts a batch
  for (const auto& entry : order) {
    const size_t i = std::get<2>(entry);
    const uint64_t size = jobs[i].size;
    uint64_t off = 0;
    do {
      const uint64_t n = size - off < kPieceSize ? size - off : kPieceSize;
      if (batch_bytes >= kBatchBytes || n >= kBatchBytes) {
        plan.batch_begin.push_back(plan.pieces.size());
        batch_bytes = 0;
      }
      plan.pieces.push_back(Piece{i, off, n});
      batch_bytes += n;
      plan.total += n;
      off += n;
    } while (off < size);
  }
  plan.batch_begin.push_back(plan.pieces.size());
  return plan;
}

// `threads`, fewer if there is too little work to share.
int ThreadsFor(const Plan& plan, int threads) {
  const uint64_t useful = 1 + plan.total / kMinBytesPerThread;
  return useful < static_cast<uint64_t>(threads) ? static_cast<int>(useful) : threads;
}

// One piece: copy and/or checksum [offset, offset + n) of the job's source.
//
// No read-ahead hints on views: MADV_WILLNEED issued 32 MiB ahead of the
// threads made cold verify ~2x slower (Linux 6.18, ext4: 375 vs 180 ms for
// 440 MB) than the kernel's own fault-driven readahead, and MADV_SEQUENTIAL
// made a cold front-to-back copy out of a mapping ~8x slower.
Status RunPiece(const ByteJob& j, uint64_t offset, uint64_t n, uint32_t* crc) {
  const ByteSource& source = *j.source;
  const char* view = source.View(j.offset + offset, n);
  char* dst = j.dst ? j.dst + offset : nullptr;
  *crc = 0;
  if (dst && j.checksum && view) {  // one pass: copy and checksum together
    if (!GuardMappedRead(view, n, [&] { *crc = crc32c::ExtendCopy(0, dst, view, static_cast<size_t>(n)); })) {
      return ShrunkFileError(source.path(), "SIGBUS");
    }
  } else if (dst && view && n < kViewCopyBelow) {  // small: copy (and swap) in one pass
    if (!GuardMappedRead(view, n, [&] { CopySwapped(dst, view, n, j.swap_unit); })) {
      return ShrunkFileError(source.path(), "SIGBUS");
    }
    return Status::OK();
  } else if (dst) {  // Read: pread straight into dst (MappedFile too, for big pieces)
    for (uint64_t done = 0; done < n;) {
      const uint64_t k = j.checksum && n - done > kHotChunk ? kHotChunk : n - done;
      BF_RETURN_IF_ERROR(source.Read(j.offset + offset + done, k, dst + done));
      if (j.checksum) *crc = crc32c::Extend(*crc, dst + done, static_cast<size_t>(k));
      done += k;
    }
  } else if (view) {  // checksum only
    if (!GuardMappedRead(view, n, [&] { *crc = crc32c::Value(view, static_cast<size_t>(n)); })) {
      return ShrunkFileError(source.path(), "SIGBUS");
    }
  } else {  // checksum only, through a scratch buffer
    const uint64_t k = n < kHotChunk ? n : kHotChunk;
    std::unique_ptr<char[]> scratch(new char[static_cast<size_t>(k)]);
    for (uint64_t done = 0; done < n;) {
      const uint64_t m = n - done < k ? n - done : k;
      BF_RETURN_IF_ERROR(source.Read(j.offset + offset + done, m, scratch.get()));
      *crc = crc32c::Extend(*crc, scratch.get(), static_cast<size_t>(m));
      done += m;
    }
  }
  if (dst && j.swap_unit > 1) CopySwapped(dst, dst, n, j.swap_unit);
  return Status::OK();
}
}  // namespace

void CopySwapped(char* dst, const char* src, uint64_t size, int unit) {
  if (unit <= 1) {
    if (dst != src && size > 0) std::memmove(dst, src, static_cast<size_t>(size));
    return;
  }
  const auto u = static_cast<uint64_t>(unit);
  char tmp[8];
  for (uint64_t i = 0; i + u <= size; i += u) {
    for (uint64_t b = 0; b < u; ++b) tmp[b] = src[i + u - 1 - b];
    std::memcpy(dst + i, tmp, static_cast<size_t>(u));
  }
}

Status RunByteJobs(const std::vector<ByteJob>& jobs, int threads, std::vector<uint32_t>* crcs, size_t* failed) {
  const Plan plan = MakePlan(jobs);
  const std::vector<Piece>& pieces = plan.pieces;
  std::vector<uint32_t> piece_crc(pieces.size());
  std::vector<Status> piece_status(pieces.size());
  ParallelFor(plan.num_batches(), ThreadsFor(plan, threads), [&](size_t b) {
    for (size_t k = plan.batch_begin[b]; k < plan.batch_begin[b + 1]; ++k) {
      const Piece& p = pieces[k];
      piece_status[k] = RunPiece(jobs[p.job], p.offset, p.size, &piece_crc[k]);
    }
  });
  size_t first = SIZE_MAX;
  for (size_t k = 0; k < pieces.size(); ++k) {
    if (!piece_status[k].ok() && pieces[k].job < first) first = pieces[k].job;
  }
  if (failed) *failed = first;
  if (first != SIZE_MAX) {
    for (size_t k = 0; k < pieces.size(); ++k) {
      if (pieces[k].job == first && !piece_status[k].ok()) return piece_status[k];
    }
  }
  if (crcs) {
    // Pieces of one job are consecutive and in order: fold them left to right.
    crcs->assign(jobs.size(), 0);
    for (size_t k = 0; k < pieces.size(); ++k) {
      const Piece& p = pieces[k];
      (*crcs)[p.job] = p.offset == 0 ? piece_crc[k] : crc32c::Combine((*crcs)[p.job], piece_crc[k], p.size);
    }
  }
  return Status::OK();
}

}  // namespace bundlefast
