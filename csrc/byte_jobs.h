// bundlefast: bulk work over byte ranges of sources (checksums, copies with an
// optional byte swap, or both in one pass), spread over threads and cut into
// pieces so one huge tensor uses every core.
#ifndef BUNDLEFAST_CSRC_BYTE_JOBS_H_
#define BUNDLEFAST_CSRC_BYTE_JOBS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "byte_source.h"
#include "status.h"

namespace bundlefast {

// Bytes [offset, offset + size) of `source`, to copy into `dst` (if not null)
// and/or to checksum.
struct ByteJob {
  const ByteSource* source = nullptr;
  uint64_t offset = 0;
  uint64_t size = 0;
  char* dst = nullptr;    // copy the bytes here
  int swap_unit = 1;      // 1: plain copy; 2, 4, 8: reverse the bytes of each unit of dst
  bool checksum = false;  // compute crc32c of the source bytes (before any swap)
};

// Runs every job, concurrently and in pieces, visiting ranges in (source,
// offset) order (a checkpoint's keys are sorted but its data is in write
// order; reading a cold file front to back lets readahead work). Jobs given
// in that order already are not sorted again. With both a copy and a
// checksum, each piece is read once: crc32c::ExtendCopy from a view, or a
// chunk read into dst and checksummed while it is in cache. Views are read
// under GuardMappedRead. Returns OK and (if `crcs`) the unmasked CRC of each
// checksummed job (others 0); or the error of the first job that failed, with
// `*failed` = that job (kIOError: ByteSource::Read's, or ShrunkFileError for a
// faulted view); its destination is then incomplete. "First" is the lowest
// job number, or with `precedence` (a number per job, e.g. the position of its
// tensor in the caller's request when the jobs are in file order) the lowest
// number there. REQUIRES: every range inside its source; destinations disjoint.
Status RunByteJobs(const std::vector<ByteJob>& jobs, int threads, std::vector<uint32_t>* crcs, size_t* failed,
                   const std::vector<uint32_t>* precedence = nullptr);

// Reverses the byte order of each `unit`-byte element of [src, src + size)
// into dst (which may equal src). size must be a multiple of unit.
void CopySwapped(char* dst, const char* src, uint64_t size, int unit);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BYTE_JOBS_H_
