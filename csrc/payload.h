// bundlefast: bulk work over tensor payloads (checksums, copies with optional
// byte swap), spread over threads and split into pieces so one huge tensor
// uses every core.
#ifndef BUNDLEFAST_CSRC_PAYLOAD_H_
#define BUNDLEFAST_CSRC_PAYLOAD_H_

#include <cstdint>
#include <vector>

namespace bundlefast {

// Returns crc32c of each byte range [data[i], data[i] + size[i]), unmasked.
// Ranges larger than a few MiB are cut into pieces checksummed concurrently
// and joined with crc32c::Combine. REQUIRES: every range is readable.
std::vector<uint32_t> ChecksumRanges(const std::vector<const char*>& data, const std::vector<uint64_t>& size,
                                     int threads);

struct CopyJob {
  char* dst;
  const char* src;
  uint64_t size;
  int swap_unit;  // 1: plain copy; 2, 4, 8: reverse the bytes of each unit
};

// Performs every copy, concurrently and in pieces.
void CopyRanges(const std::vector<CopyJob>& jobs, int threads);

// Reverses the byte order of each `unit`-byte element of [src, src + size)
// into dst (which may equal src). size must be a multiple of unit.
void CopySwapped(char* dst, const char* src, uint64_t size, int unit);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_PAYLOAD_H_
