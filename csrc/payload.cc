// bundlefast: threaded checksums and copies over payload byte ranges.
#include "payload.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "crc32c.h"
#include "mapped_file.h"
#include "parallel.h"
#include "sigbus_guard.h"

namespace bundlefast {

namespace {
// Big enough that per-piece overhead (a Combine is ~100 ns) is invisible, small
// enough that two threads share a 100 MB tensor evenly.
constexpr uint64_t kPieceSize = 4ull << 20;
// Pieces are handed to threads in batches of at least this many bytes, so
// 50,000 tiny tensors cost a few hundred atomic claims, not 50,000.
constexpr uint64_t kBatchBytes = 256ull << 10;
// Work per thread below which another thread is not worth waking: a 5 KB
// checkpoint is checksummed in microseconds, faster than a wake-up.
constexpr uint64_t kMinBytesPerThread = 1ull << 20;
// Copies of pieces at least this big are pread() from the file; smaller ones
// are copied out of the mapping (50,000 tiny tensors are not 50,000 syscalls).
constexpr uint64_t kMinPreadBytes = 64ull << 10;

struct Piece {
  size_t range;
  uint64_t offset;
  uint64_t size;
};

// The pieces of every range, and the batches they are handed out in.
struct Plan {
  std::vector<Piece> pieces;        // the pieces of one range are consecutive and in order
  std::vector<size_t> batch_begin;  // batch b is pieces [batch_begin[b], batch_begin[b + 1])
  uint64_t total = 0;               // bytes
  size_t num_batches() const { return batch_begin.size() - 1; }
};

// Ranges are visited in order of their source address: a checkpoint's keys
// are sorted but its data is in write order, and reading a cold file front to
// back lets readahead turn page faults into large sequential reads.
Plan MakePlan(const std::vector<const char*>& src, const std::vector<uint64_t>& sizes) {
  Plan plan;
  std::vector<std::pair<uintptr_t, size_t>> order(sizes.size());
  bool sorted = true;
  for (size_t i = 0; i < sizes.size(); ++i) {
    order[i] = {reinterpret_cast<uintptr_t>(src[i]), i};
    sorted = sorted && (i == 0 || order[i - 1].first <= order[i].first);
  }
  if (!sorted) std::sort(order.begin(), order.end());
  plan.pieces.reserve(sizes.size());
  uint64_t batch_bytes = kBatchBytes;  // so the first piece starts a batch
  for (const auto& entry : order) {
    const size_t i = entry.second;
    uint64_t off = 0;
    do {
      const uint64_t n = sizes[i] - off < kPieceSize ? sizes[i] - off : kPieceSize;
      if (batch_bytes >= kBatchBytes || n >= kBatchBytes) {
        plan.batch_begin.push_back(plan.pieces.size());
        batch_bytes = 0;
      }
      plan.pieces.push_back(Piece{i, off, n});
      batch_bytes += n;
      plan.total += n;
      off += n;
    } while (off < sizes[i]);
  }
  plan.batch_begin.push_back(plan.pieces.size());
  return plan;
}

// `threads`, fewer if there is too little work to share.
int ThreadsFor(const Plan& plan, int threads) {
  const uint64_t useful = 1 + plan.total / kMinBytesPerThread;
  return useful < static_cast<uint64_t>(threads) ? static_cast<int>(useful) : threads;
}

// Runs fn(piece index) for every piece, batch by batch, on up to `threads` threads.
//
// No read-ahead hints: MADV_WILLNEED issued 32 MiB ahead of the threads made
// cold verify ~2x slower (Linux 6.18, ext4: 375 vs 180 ms for 440 MB) than
// the kernel's own fault-driven readahead, and MADV_SEQUENTIAL made a cold
// front-to-back copy out of a mapping ~8x slower. Address order is what the
// fault path needs.
template <typename Fn>
void ForEachPiece(const Plan& plan, int threads, Fn&& fn) {
  ParallelFor(plan.num_batches(), ThreadsFor(plan, threads), [&](size_t b) {
    for (size_t k = plan.batch_begin[b]; k < plan.batch_begin[b + 1]; ++k) fn(k);
  });
}

// The lowest-numbered range with a faulted piece, or SIZE_MAX.
size_t FirstFault(const std::vector<Piece>& pieces, const std::vector<unsigned char>& fault) {
  size_t first = SIZE_MAX;
  for (size_t k = 0; k < pieces.size(); ++k) {
    if (fault[k] && pieces[k].range < first) first = pieces[k].range;
  }
  return first;
}
}  // namespace

std::vector<uint32_t> ChecksumRanges(const std::vector<const char*>& data, const std::vector<uint64_t>& size,
                                     int threads, size_t* faulted) {
  const Plan plan = MakePlan(data, size);
  const std::vector<Piece>& pieces = plan.pieces;
  std::vector<uint32_t> piece_crc(pieces.size());
  std::vector<unsigned char> fault(pieces.size(), 0);
  ForEachPiece(plan, threads, [&](size_t k) {
    const Piece& p = pieces[k];
    const char* src = data[p.range] + p.offset;
    uint32_t crc = 0;
    fault[k] = !GuardMappedRead(src, p.size, [&] { crc = crc32c::Value(src, static_cast<size_t>(p.size)); });
    piece_crc[k] = crc;
  });
  const size_t first_fault = FirstFault(pieces, fault);
  if (faulted) *faulted = first_fault;
  // Pieces of one range are consecutive and in order: fold them left to right.
  std::vector<uint32_t> crc(data.size(), 0);
  for (size_t k = 0; k < pieces.size(); ++k) {
    const Piece& p = pieces[k];
    crc[p.range] = p.offset == 0 ? piece_crc[k] : crc32c::Combine(crc[p.range], piece_crc[k], p.size);
  }
  return crc;
}

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

bool CopyRanges(const std::vector<CopyJob>& jobs, int threads, size_t* faulted) {
  std::vector<const char*> srcs(jobs.size());
  std::vector<uint64_t> sizes(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    srcs[i] = jobs[i].src;
    sizes[i] = jobs[i].size;
  }
  const Plan plan = MakePlan(srcs, sizes);
  const std::vector<Piece>& pieces = plan.pieces;
  // One descriptor per file that has a piece big enough to pread (-1: use the mapping).
  std::unordered_map<const MappedFile*, int> fds;
  std::vector<int> job_fd(jobs.size(), -1);
  for (const Piece& p : pieces) {
    const CopyJob& j = jobs[p.range];
    if (j.file == nullptr || p.size < kMinPreadBytes || job_fd[p.range] >= 0) continue;
    auto it = fds.find(j.file);
    if (it == fds.end()) it = fds.emplace(j.file, j.file->OpenForRead()).first;
    job_fd[p.range] = it->second;
  }
  std::vector<unsigned char> fault(pieces.size(), 0);
  ForEachPiece(plan, threads, [&](size_t k) {
    const Piece& p = pieces[k];
    const CopyJob& j = jobs[p.range];
    char* dst = j.dst + p.offset;
    const char* src = j.src + p.offset;
    // pread() copies page cache -> dst like memcpy does, but the source needs
    // no page tables and a cold file is read with read()'s readahead. Any
    // failure (e.g. a short read: the file shrank) retries from the mapping,
    // whose guard reports it.
    if (job_fd[p.range] >= 0 && p.size >= kMinPreadBytes &&
        ReadAt(job_fd[p.range], static_cast<uint64_t>(src - j.file->data()), dst, p.size)) {
      // kPieceSize is a multiple of every swap unit, so pieces never split an element.
      if (j.swap_unit > 1) CopySwapped(dst, dst, p.size, j.swap_unit);
      return;
    }
    fault[k] = !GuardMappedRead(src, p.size, [&] { CopySwapped(dst, src, p.size, j.swap_unit); });
  });
  for (const auto& entry : fds) CloseFd(entry.second);
  const size_t first_fault = FirstFault(pieces, fault);
  if (faulted) *faulted = first_fault;
  return first_fault == SIZE_MAX;
}

}  // namespace bundlefast
