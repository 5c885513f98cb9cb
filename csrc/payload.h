// bundlefast: bulk work over tensor payloads (checksums, copies with optional
// byte swap), spread over threads and split into pieces so one huge tensor
// uses every core.
#ifndef BUNDLEFAST_CSRC_PAYLOAD_H_
#define BUNDLEFAST_CSRC_PAYLOAD_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bundlefast {

// Returns crc32c of each byte range [data[i], data[i] + size[i]), unmasked.
// Ranges larger than a few MiB are cut into pieces checksummed concurrently
// and joined with crc32c::Combine. Ranges may lie in mapped files that shrink
// meanwhile: reads run under GuardMappedRead, and `*faulted` (if given) is the
// first range a read of which faulted, or SIZE_MAX; such a range's CRC is
// meaningless, so callers that read mapped files pass `faulted` and check it.
std::vector<uint32_t> ChecksumRanges(const std::vector<const char*>& data, const std::vector<uint64_t>& size,
                                     int threads, size_t* faulted = nullptr);

class MappedFile;

struct CopyJob {
  char* dst;
  const char* src;
  uint64_t size;
  int swap_unit;  // 1: plain copy; 2, 4, 8: reverse the bytes of each unit
  // The mapping `src` lies in, if any. Then big pieces are pread() from the
  // file straight into dst instead of copied out of the mapping (see
  // MappedFile::OpenForRead); the mapping is the fallback.
  const MappedFile* file = nullptr;
};

// Performs every copy, concurrently and in pieces, reading the sources with
// pread() or, from mappings, under GuardMappedRead. Returns false if a read
// faulted (a mapped file shrank), with `*faulted` (if given) the first such
// job; its destination is incomplete.
[[nodiscard]] bool CopyRanges(const std::vector<CopyJob>& jobs, int threads, size_t* faulted = nullptr);

// Reverses the byte order of each `unit`-byte element of [src, src + size)
// into dst (which may equal src). size must be a multiple of unit.
void CopySwapped(char* dst, const char* src, uint64_t size, int unit);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_PAYLOAD_H_
