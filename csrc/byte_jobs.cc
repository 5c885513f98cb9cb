// bundlefast: threaded checksums and copies over byte ranges of sources.
#include "byte_jobs.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
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

// Piece sizes follow from the offset (kPieceSize, the last one the rest), so a
// piece is 16 bytes: a 50,000-tensor verify makes 50,000 of them per call.
struct Piece {
  size_t job;
  uint64_t offset;  // within the job
};
uint64_t PieceSize(const std::vector<ByteJob>& jobs, const Piece& p) {
  const uint64_t rest = jobs[p.job].size - p.offset;
  return rest < kPieceSize ? rest : kPieceSize;
}

// The pieces of every job, and the batches they are handed out in.
struct Plan {
  std::vector<Piece> pieces;        // the pieces of one job are consecutive and in order
  std::vector<size_t> batch_begin;  // batch b is pieces [batch_begin[b], batch_begin[b + 1])
  uint64_t total = 0;               // bytes
  size_t num_batches() const { return batch_begin.size() - 1; }
};

// True if the jobs already visit every source front to back: each source's
// jobs are one run, in ascending offsets. ReadPlan emits them so (in file
// order), which saves sorting 50,000 jobs on every load.
bool InFileOrder(const std::vector<ByteJob>& jobs) {
  std::vector<const ByteSource*> done;  // sources whose run has ended (a few shards)
  for (size_t i = 1; i < jobs.size(); ++i) {
    const ByteJob& a = jobs[i - 1];
    const ByteJob& b = jobs[i];
    if (a.source == b.source) {
      if (b.offset < a.offset) return false;
      continue;
    }
    done.push_back(a.source);
    if (std::find(done.begin(), done.end(), b.source) != done.end()) return false;
  }
  return true;
}

Plan MakePlan(const std::vector<ByteJob>& jobs) {
  Plan plan;
  std::vector<size_t> order;  // job numbers in visiting order, if not 0, 1, ...
  if (!InFileOrder(jobs)) {
    std::vector<std::tuple<const ByteSource*, uint64_t, size_t>> keys(jobs.size());
    for (size_t i = 0; i < jobs.size(); ++i) keys[i] = {jobs[i].source, jobs[i].offset, i};
    std::sort(keys.begin(), keys.end());
    order.resize(jobs.size());
    for (size_t i = 0; i < jobs.size(); ++i) order[i] = std::get<2>(keys[i]);
  }
  plan.pieces.reserve(jobs.size());
  uint64_t batch_bytes = kBatchBytes;  // so the first piece starts a batch
  for (size_t visit = 0; visit < jobs.size(); ++visit) {
    const size_t i = order.empty() ? visit : order[visit];
    const uint64_t size = jobs[i].size;
    uint64_t off = 0;
    do {
      const uint64_t n = size - off < kPieceSize ? size - off : kPieceSize;
      if (batch_bytes >= kBatchBytes || n >= kBatchBytes) {
        plan.batch_begin.push_back(plan.pieces.size());
        batch_bytes = 0;
      }
      plan.pieces.push_back(Piece{i, off});
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

// True if RunPiece would do a piece of n bytes of job j all from a view (given
// one): those pieces need no allocation and make no Status, so a run of them
// from one source can share one guard (RunViewPieces).
bool ServedFromView(const ByteJob& j, uint64_t n) { return !j.dst || j.checksum || n < kViewCopyBelow; }

// What RunPiece does for such a piece, unguarded: `view` is its bytes.
void ViewPiece(const ByteJob& j, const char* view, uint64_t offset, uint64_t n, uint32_t* crc) {
  char* dst = j.dst ? j.dst + offset : nullptr;
  *crc = 0;
  if (dst && j.checksum) {
    *crc = crc32c::ExtendCopy(0, dst, view, static_cast<size_t>(n));
    if (j.swap_unit > 1) CopySwapped(dst, dst, n, j.swap_unit);
  } else if (dst) {
    CopySwapped(dst, view, n, j.swap_unit);
  } else {
    *crc = crc32c::Value(view, static_cast<size_t>(n));
  }
}

// Runs pieces [begin, end) of one batch. Consecutive pieces served from a view
// of the same source run under one GuardMappedRead over the whole mapping: a
// guard per piece (a sigsetjmp and a thread-local access) was ~350
// instructions per tensor, a tenth of a 50,000-tensor load. After a fault the
// piece being read gets the error and the run goes on with the next one.
// A failed piece (failures are rare: kept in a list, not a Status per piece).
struct PieceError {
  size_t piece;
  Status status;
};

void RunBatch(const std::vector<ByteJob>& jobs, const std::vector<Piece>& pieces, size_t begin, size_t end,
              std::vector<uint32_t>* crcs, std::mutex* errors_mu, std::vector<PieceError>* errors) {
  const auto fail = [&](size_t k, Status s) {
    std::lock_guard<std::mutex> lock(*errors_mu);
    errors->push_back(PieceError{k, std::move(s)});
  };
  size_t k = begin;
  while (k < end) {
    const ByteJob& j = jobs[pieces[k].job];
    const ByteSource* source = j.source;
    const char* whole = source->View(0, source->size());
    const uint64_t n = PieceSize(jobs, pieces[k]);
    if (whole == nullptr || !ServedFromView(j, n)) {
      Status s = RunPiece(j, pieces[k].offset, n, &(*crcs)[k]);
      if (!s.ok()) fail(k, std::move(s));
      ++k;
      continue;
    }
    volatile size_t at = k;  // the piece being read, still right after a fault (siglongjmp)
    const bool ok = GuardMappedRead(whole, source->size(), [&] {
      for (size_t m = at; m < end; at = ++m) {
        const Piece& p = pieces[m];
        const ByteJob& pj = jobs[p.job];
        const uint64_t pn = PieceSize(jobs, p);
        if (pj.source != source || !ServedFromView(pj, pn)) break;
        ViewPiece(pj, whole + pj.offset + p.offset, p.offset, pn, &(*crcs)[m]);
      }
    });
    k = at;
    if (!ok) fail(k++, ShrunkFileError(source->path(), "SIGBUS"));
  }
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

Status RunByteJobs(const std::vector<ByteJob>& jobs, int threads, std::vector<uint32_t>* crcs, size_t* failed,
                   const std::vector<uint32_t>* precedence) {
  const Plan plan = MakePlan(jobs);
  const std::vector<Piece>& pieces = plan.pieces;
  std::vector<uint32_t> piece_crc(pieces.size());
  std::mutex errors_mu;
  std::vector<PieceError> errors;
  ParallelFor(plan.num_batches(), ThreadsFor(plan, threads), [&](size_t b) {
    RunBatch(jobs, pieces, plan.batch_begin[b], plan.batch_begin[b + 1], &piece_crc, &errors_mu, &errors);
  });
  if (failed) *failed = SIZE_MAX;
  if (!errors.empty()) {
    // The first failed job, and of its failed pieces the first in the job.
    const auto before = [&](const PieceError& a, const PieceError& b) {
      const size_t ja = pieces[a.piece].job, jb = pieces[b.piece].job;
      if (ja != jb) {
        const bool ranked = precedence && (*precedence)[ja] != (*precedence)[jb];
        return ranked ? (*precedence)[ja] < (*precedence)[jb] : ja < jb;
      }
      return a.piece < b.piece;
    };
    PieceError& first = *std::min_element(errors.begin(), errors.end(), before);
    if (failed) *failed = pieces[first.piece].job;
    return std::move(first.status);
  }
  if (crcs) {
    // Pieces of one job are consecutive and in order: fold them left to right.
    crcs->assign(jobs.size(), 0);
    for (size_t k = 0; k < pieces.size(); ++k) {
      const Piece& p = pieces[k];
      (*crcs)[p.job] =
          p.offset == 0 ? piece_crc[k] : crc32c::Combine((*crcs)[p.job], piece_crc[k], PieceSize(jobs, p));
    }
  }
  return Status::OK();
}

}  // namespace bundlefast
