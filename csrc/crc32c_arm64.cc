// bundlefast: the AArch64 CRC32C kernel, built on the ARMv8 CRC32 extension
// (crc32cx / crc32cb).
//
// This is the only file compiled with -march=armv8-a+crc; crc32c.cc calls
// ExtendArm64 only after the OS reports HWCAP_CRC32 (cpu_features.cc). CMake
// builds the file only when its probe compiles the intrinsics; on any other
// target the guard below leaves it empty.
//
// Same 3-way scheme and block sizes as crc32c_sse42.cc: on common cores
// (Cortex-A72/A76, Neoverse N1/V1) crc32cx issues every cycle but takes a
// few to complete, so three independent chains over adjacent blocks keep the
// unit busy. The
// blocks are merged with the zero-shift tables rather than PMULL, which keeps
// the requirement at +crc alone (no +crypto and second HWCAP bit to check).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "crc32c_internal.h"

// The instructions take the register's bytes in little-endian order, and a
// memcpy load yields that order only on a little-endian target.
#if defined(__aarch64__) && defined(__ARM_FEATURE_CRC32) && \
    defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__

#include <arm_acle.h>

namespace bundlefast {
namespace crc32c {

namespace {

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Feeds the zero bytes a table stands for into raw register `crc`. Kept here,
// not in the shared header, so no inline code crosses ISA boundaries.
inline uint32_t Shift(const ZeroShiftTable& z, uint32_t crc) {
  return z.t[0][crc & 0xff] ^ z.t[1][(crc >> 8) & 0xff] ^ z.t[2][(crc >> 16) & 0xff] ^
         z.t[3][crc >> 24];
}

// Consumes 3 * kBlock bytes at p as three parallel streams and returns the
// raw register after all of them; one 64-byte line per stream per iteration.
// (Unlike the x86 kernel it does not prefetch the next blocks: that was tuned
// by measurement, and no AArch64 machine was at hand to measure.)
template <size_t kBlock>
inline uint32_t ThreeWay(uint32_t crc0, const uint8_t* p, const ZeroShiftTable& shift) {
  static_assert(kBlock % 64 == 0, "the loop consumes 64 bytes per stream");
  uint32_t crc1 = 0;
  uint32_t crc2 = 0;
  const uint8_t* const end = p + kBlock;
  do {
    // Unrolled by hand: -O2 does not unroll a loop over `i` here.
    const auto step = [&](size_t i) {
      crc0 = __crc32cd(crc0, Load64(p + i));
      crc1 = __crc32cd(crc1, Load64(p + kBlock + i));
      crc2 = __crc32cd(crc2, Load64(p + 2 * kBlock + i));
    };
    step(0);
    step(8);
    step(16);
    step(24);
    step(32);
    step(40);
    step(48);
    step(56);
    p += 64;
  } while (p != end);
  // Streams 1 and 2 started from register 0: append each one's length in
  // zeros to what precedes it, then xor it in.
  crc0 = Shift(shift, crc0) ^ crc1;
  return Shift(shift, crc0) ^ crc2;
}

}  // namespace

uint32_t ExtendArm64(uint32_t crc, const char* data, size_t n) {
  const auto* p = reinterpret_cast<const uint8_t*>(data);
  const uint8_t* const end = p + n;
  uint32_t l = ~crc;

  // Align to 8 so the bulk loads never straddle a cache line.
  if (n >= 3 * kShortBlock) {
    while (reinterpret_cast<uintptr_t>(p) & 7) l = __crc32cb(l, *p++);
  }
  while (static_cast<size_t>(end - p) >= 3 * kLongBlock) {
    l = ThreeWay<kLongBlock>(l, p, kShiftLongBlock);
    p += 3 * kLongBlock;
  }
  while (static_cast<size_t>(end - p) >= 3 * kMediumBlock) {
    l = ThreeWay<kMediumBlock>(l, p, kShiftMediumBlock);
    p += 3 * kMediumBlock;
  }
  while (static_cast<size_t>(end - p) >= 3 * kShortBlock) {
    l = ThreeWay<kShortBlock>(l, p, kShiftShortBlock);
    p += 3 * kShortBlock;
  }
  // Tail: under 3 * kShortBlock bytes, one chain.
  while (end - p >= 8) {
    l = __crc32cd(l, Load64(p));
    p += 8;
  }
  while (p != end) l = __crc32cb(l, *p++);
  return ~l;
}

// Blocked, not fused like the SSE4.2 kernel's copy: no AArch64 machine was
// at hand to measure a fused loop against memcpy's NEON stores.
uint32_t ExtendCopyArm64(uint32_t crc, char* dst, const char* src, size_t n) {
  return ExtendCopyBlocked(&ExtendArm64, crc, dst, src, n);
}

}  // namespace crc32c
}  // namespace bundlefast

#endif  // AArch64 little-endian with the CRC32 extension
