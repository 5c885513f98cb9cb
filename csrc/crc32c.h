// bundlefast: CRC-32C (Castagnoli) and the masking TensorFlow applies to stored CRCs.
//
// Extend() dispatches at run time to the fastest kernel this CPU has (SSE4.2 on
// x86-64, the CRC32 extension on AArch64) and falls back to a portable
// table-driven kernel, so one binary runs everywhere (google/crc32c's model).
#ifndef BUNDLEFAST_CSRC_CRC32C_H_
#define BUNDLEFAST_CSRC_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace bundlefast {
namespace crc32c {

// Returns crc32c(A || data[0, n)) given crc = crc32c(A). Extend(0, ...) starts
// a fresh CRC (0 is the CRC of the empty string, not a raw register value).
// Thread-safe; never reads outside [data, data + n).
uint32_t Extend(uint32_t crc, const char* data, size_t n);

inline uint32_t Value(const char* data, size_t n) { return Extend(0, data, n); }

// Copies src[0, n) to dst and returns Extend(crc, src, n), in one pass over
// the bytes: the reader's verify+copy and the writer's copy into its buffer
// both need the CRC of what they move, and a second pass would read memory
// twice. Dispatched like Extend: the SSE4.2 kernel stores each word its
// crc32 instruction loads; the others copy a block and checksum it while it
// is in L1. REQUIRES: [dst, dst + n) and [src, src + n) do not overlap.
uint32_t ExtendCopy(uint32_t crc, char* dst, const char* src, size_t n);

// Returns crc32c(A || B) from crc_a = crc32c(A), crc_b = crc32c(B) and
// len_b = |B|, in O(log len_b). Lets threads checksum pieces of one tensor.
uint32_t Combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

// A CRC stored next to the data it covers is "masked": computing the CRC of a
// string that contains embedded CRCs is otherwise problematic (leveldb
// util/crc32c.h). Mask = rotate right by 15, then add a constant.
constexpr uint32_t kMaskDelta = 0xa282ead8u;

inline constexpr uint32_t Mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

inline constexpr uint32_t Unmask(uint32_t masked) {
  const uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

// Kernels, for tests and benchmarks: every one must agree with every other.
enum class Backend { kPortable = 0, kSse42 = 1, kArm64 = 2 };

const char* BackendName(Backend backend);
// True if this binary has the kernel and this CPU can run it.
bool BackendAvailable(Backend backend);
// The kernel Extend() uses.
Backend ActiveBackend();
// Extend() with an explicit kernel. REQUIRES: BackendAvailable(backend).
uint32_t ExtendWith(Backend backend, uint32_t crc, const char* data, size_t n);
// ExtendCopy() with an explicit kernel. REQUIRES: BackendAvailable(backend).
uint32_t ExtendCopyWith(Backend backend, uint32_t crc, char* dst, const char* src, size_t n);

}  // namespace crc32c
}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_CRC32C_H_
