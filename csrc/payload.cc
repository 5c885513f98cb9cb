// bundlefast: threaded checksums and copies over payload byte ranges.
#include "payload.h"

#include <cstring>

#include "crc32c.h"
#include "parallel.h"

namespace bundlefast {

namespace {
// Big enough that per-piece overhead (a Combine is ~100 ns) is invisible, small
// enough that two threads share a 100 MB tensor evenly.
constexpr uint64_t kPieceSize = 4ull << 20;

struct Piece {
  size_t range;
  uint64_t offset;
  uint64_t size;
};

std::vector<Piece> CutIntoPieces(const std::vector<uint64_t>& sizes) {
  std::vector<Piece> pieces;
  pieces.reserve(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    uint64_t off = 0;
    do {
      const uint64_t n = sizes[i] - off < kPieceSize ? sizes[i] - off : kPieceSize;
      pieces.push_back(Piece{i, off, n});
      off += n;
    } while (off < sizes[i]);
  }
  return pieces;
}
}  // namespace

std::vector<uint32_t> ChecksumRanges(const std::vector<const char*>& data, const std::vector<uint64_t>& size,
                                     int threads) {
  const std::vector<Piece> pieces = CutIntoPieces(size);
  std::vector<uint32_t> piece_crc(pieces.size());
  ParallelFor(pieces.size(), threads, [&](size_t k) {
    const Piece& p = pieces[k];
    piece_crc[k] = crc32c::Value(data[p.range] + p.offset, static_cast<size_t>(p.size));
  });
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

void CopyRanges(const std::vector<CopyJob>& jobs, int threads) {
  std::vector<uint64_t> sizes(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) sizes[i] = jobs[i].size;
  const std::vector<Piece> pieces = CutIntoPieces(sizes);
  ParallelFor(pieces.size(), threads, [&](size_t k) {
    const Piece& p = pieces[k];
    const CopyJob& j = jobs[p.range];
    // kPieceSize is a multiple of every swap unit, so pieces never split an element.
    CopySwapped(j.dst + p.offset, j.src + p.offset, p.size, j.swap_unit);
  });
}

}  // namespace bundlefast
