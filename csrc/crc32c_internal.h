// bundlefast: what the CRC32C kernels share: their entry points, the block
// sizes of the 3-way hardware kernels and the tables that merge their streams.
//
// Each kernel lives in its own .cc file compiled with its own ISA flags, and
// crc32c.cc calls one of them after probing the CPU (google/crc32c's layout).
// This header therefore holds declarations and data only, never inline code:
// an inline function emitted in the SSE4.2 translation unit and in a portable
// one is merged by the linker into either copy, and if it kept the SSE4.2 one
// every caller would fault on a CPU without SSE4.2.
#ifndef BUNDLEFAST_CSRC_CRC32C_INTERNAL_H_
#define BUNDLEFAST_CSRC_CRC32C_INTERNAL_H_

#include <cstddef>
#include <cstdint>

namespace bundlefast {
namespace crc32c {

// The Castagnoli polynomial 0x1EDC6F41 in the bit-reflected form a
// right-shifting (LSB-first) CRC register uses; the SSE4.2 and ARMv8 CRC32C
// instructions implement the same CRC.
inline constexpr uint32_t kCastagnoliPoly = 0x82f63b78u;

// Every kernel has the signature of Extend(): `crc` is a finished CRC (as
// returned by Value), not a raw register, and so is the result. Each reads
// exactly [data, data + n) with unaligned loads.
//
// ExtendPortable is always built. ExtendSse42 exists only when the build
// defines HAVE_SSE42=1 and ExtendArm64 only when HAVE_ARM64_CRC32C=1; callers
// must also check the CPU (cpu_features.h) before calling them.
uint32_t ExtendPortable(uint32_t crc, const char* data, size_t n);
uint32_t ExtendSse42(uint32_t crc, const char* data, size_t n);
uint32_t ExtendArm64(uint32_t crc, const char* data, size_t n);

// The same per kernel for ExtendCopy(): copy src[0, n) to dst and return the
// CRC of the bytes, reading src once. The SSE4.2 kernel stores each word its
// crc32 loads; the others copy a block and checksum it while it is in L1.
uint32_t ExtendCopyPortable(uint32_t crc, char* dst, const char* src, size_t n);
uint32_t ExtendCopySse42(uint32_t crc, char* dst, const char* src, size_t n);
uint32_t ExtendCopyArm64(uint32_t crc, char* dst, const char* src, size_t n);

// Whether the pages holding dst[0] and dst[n - 1] are already mapped in
// (mincore on Linux; false where that cannot be asked). The SSE4.2 copy
// streams past the cache only into such memory: see kStreamBytes there.
// Defined in crc32c.cc, which carries no ISA flags.
bool DestinationMapped(const char* dst, size_t n);

// What ExtendCopyPortable and ExtendCopyArm64 do: copy a block of src, then
// checksum the copy with `extend` while it is still in L1, block by block.
// Defined in crc32c_portable.cc (no ISA flags); `extend` is called through
// the pointer, so no instruction of its kernel leaks into this code.
uint32_t ExtendCopyBlocked(uint32_t (*extend)(uint32_t, const char*, size_t), uint32_t crc, char* dst,
                           const char* src, size_t n);

// The hardware kernels hide the instruction's latency (3 cycles, one issued
// per cycle) by running three independent CRCs over three adjacent blocks of
// equal size and merging them; each merge costs a couple of dependent table
// lookups. They step down through three block sizes, then finish with one
// chain over fewer than 3 * kShortBlock bytes. The sizes are google/crc32c's:
// 3 * 5440, 3 * 1344 and 3 * 320 fall just under 16 KiB, 4 KiB and 1 KiB, so
// the common power-of-two buffer is one 3-way pass plus a tail of at most 64
// bytes. (Adler's 8192/256 pair, which ICRAR's crc32c uses, measured 10-15%
// slower from 1 to 16 KiB.) All are multiples of 64 because the inner loops
// consume a 64-byte cache line per stream per iteration.
inline constexpr size_t kLongBlock = 5440;
inline constexpr size_t kMediumBlock = 1344;
inline constexpr size_t kShortBlock = 320;

// A linear operator on raw (un-inverted) CRC registers, stored as the images
// of each byte of the register: Apply(r) = t[0][r & 0xff] ^ t[1][(r >> 8) &
// 0xff] ^ t[2][(r >> 16) & 0xff] ^ t[3][r >> 24].
struct ZeroShiftTable {
  uint32_t t[4][256];
};

// Operators that feed kLongBlock (kMediumBlock, kShortBlock) zero bytes into
// a raw register, i.e. multiply it by x^(8 * block) mod P. Merging stream A
// with a stream B that started from register 0 is then Apply(shift, a) ^ b.
// Constant-initialized in crc32c_portable.cc (no start-up cost, no race).
extern const ZeroShiftTable kShiftLongBlock;
extern const ZeroShiftTable kShiftMediumBlock;
extern const ZeroShiftTable kShiftShortBlock;

}  // namespace crc32c
}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_CRC32C_INTERNAL_H_
