// bundlefast: the x86-64 CRC32C kernel, built on the SSE4.2 crc32 instruction.
//
// This is the only file compiled with -msse4.2, so nothing else in the binary
// can use the instruction by accident; crc32c.cc calls ExtendSse42 only after
// CPUID says the CPU has SSE4.2. CMake builds the file only when its probe
// compiles _mm_crc32_u64 (x86-64 compilers that take the flag).
//
// The algorithm is Mark Adler's (crc32c.c, 2013; also ICRAR's crc32c and
// google/crc32c src/crc32c_sse42.cc): crc32 has a latency of 3 cycles but
// issues once per cycle, so one dependent chain runs at a third of the
// instruction's throughput. Three chains over three adjacent blocks keep it
// busy; the block CRCs are then merged with the zero-shift tables of
// crc32c_internal.h (block sizes and why are there too). Loads go through
// memcpy, so any alignment is fine; the head is aligned to 8 anyway.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "crc32c_internal.h"

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__SSE4_2__) || defined(_MSC_VER))

#include <nmmintrin.h>

namespace bundlefast {
namespace crc32c {

namespace {

// Unaligned-safe load; x86 is little-endian, which crc32 assumes.
inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Feeds the zero bytes a table stands for into raw register `crc`. Kept here,
// not in the shared header, so no inline code crosses ISA boundaries.
inline uint64_t Shift(const ZeroShiftTable& z, uint64_t crc) {
  return z.t[0][crc & 0xff] ^ z.t[1][(crc >> 8) & 0xff] ^ z.t[2][(crc >> 16) & 0xff] ^
         z.t[3][(crc >> 24) & 0xff];
}

// Unaligned-safe store, the mirror of Load64.
inline void Store64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, sizeof(v)); }

// Consumes 3 * kBlock bytes at p as three parallel streams and returns the
// raw register after all of them. Each iteration advances every stream by
// one 64-byte cache line, which keeps loop overhead off the crc32 port.
//
// With kCopy, every 8-byte word is also stored to the same offset at d right
// after it is loaded: the copy costs one store per crc32, and the source is
// read from memory once, by the CRC's own loads (ExtendCopy). Without it, d
// is unused.
//
// With kPrefetchNext, each iteration also prefetches three lines of the
// *next* 3 * kBlock bytes into L2, so the whole next region is in flight
// before the streams reach it. Measured on a Zen 4 (EPYC): ~30% faster out
// of cache (64 MiB and 440 MB buffers), neutral in cache. The hardware
// prefetchers, which stop at 4 KiB page boundaries, evidently do not keep
// three interleaved streams fed on their own. The caller enables it only
// when those bytes are inside the buffer: a prefetch never faults, but it
// should not touch memory we were not given.
template <size_t kBlock, bool kPrefetchNext, bool kCopy>
inline uint64_t ThreeWay(uint64_t crc0, const uint8_t* p, uint8_t* d, const ZeroShiftTable& shift) {
  static_assert(kBlock % 64 == 0, "the loop consumes 64 bytes per stream");
  uint64_t crc1 = 0;
  uint64_t crc2 = 0;
  const uint8_t* const end = p + kBlock;
  const char* next = reinterpret_cast<const char*>(p) + 3 * kBlock;
  do {
    if constexpr (kPrefetchNext) {
      _mm_prefetch(next, _MM_HINT_T1);
      _mm_prefetch(next + 64, _MM_HINT_T1);
      _mm_prefetch(next + 128, _MM_HINT_T1);
      next += 3 * 64;
    }
    // Unrolled by hand: -O2 does not unroll a loop over `i` here.
    const auto step = [&](size_t i) {
      const uint64_t w0 = Load64(p + i);
      const uint64_t w1 = Load64(p + kBlock + i);
      const uint64_t w2 = Load64(p + 2 * kBlock + i);
      crc0 = _mm_crc32_u64(crc0, w0);
      crc1 = _mm_crc32_u64(crc1, w1);
      crc2 = _mm_crc32_u64(crc2, w2);
      if constexpr (kCopy) {
        Store64(d + i, w0);
        Store64(d + kBlock + i, w1);
        Store64(d + 2 * kBlock + i, w2);
      }
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
    if constexpr (kCopy) d += 64;
  } while (p != end);
  // Stream 1 started from register 0, so its bytes enter linearly: append its
  // length in zeros to stream 0 and xor it in; same again for stream 2.
  crc0 = Shift(shift, crc0) ^ crc1;
  return Shift(shift, crc0) ^ crc2;
}

// Extend (kCopy false, d unused) or ExtendCopy (kCopy true): one body, so
// the fused copy walks exactly the loops the plain CRC does.
template <bool kCopy>
uint32_t ExtendImpl(uint32_t crc, uint8_t* d, const uint8_t* p, size_t n) {
  const uint8_t* const end = p + n;
  uint64_t l = static_cast<uint32_t>(~crc);
  // One byte or one word of the head and the tail.
  const auto byte = [&] {
    if constexpr (kCopy) *d++ = *p;
    l = _mm_crc32_u8(static_cast<uint32_t>(l), *p++);
  };

  // Align the source to 8 bytes so that no 8-byte load straddles a cache
  // line (each straddling load costs an extra cache access). Only worth it
  // when the bulk loops will run.
  if (n >= 3 * kShortBlock) {
    while (reinterpret_cast<uintptr_t>(p) & 7) byte();
  }
  const auto three_way = [&](auto block, auto prefetch, const ZeroShiftTable& shift) {
    constexpr size_t kBlock = decltype(block)::value;
    l = ThreeWay<kBlock, decltype(prefetch)::value, kCopy>(l, p, d, shift);
    p += 3 * kBlock;
    if constexpr (kCopy) d += 3 * kBlock;
  };
  using Long = std::integral_constant<size_t, kLongBlock>;
  using Medium = std::integral_constant<size_t, kMediumBlock>;
  using Short = std::integral_constant<size_t, kShortBlock>;
  while (static_cast<size_t>(end - p) >= 6 * kLongBlock) three_way(Long(), std::true_type(), kShiftLongBlock);
  while (static_cast<size_t>(end - p) >= 3 * kLongBlock) three_way(Long(), std::false_type(), kShiftLongBlock);
  while (static_cast<size_t>(end - p) >= 3 * kMediumBlock) three_way(Medium(), std::false_type(), kShiftMediumBlock);
  while (static_cast<size_t>(end - p) >= 3 * kShortBlock) three_way(Short(), std::false_type(), kShiftShortBlock);
  // Tail: under 3 * kShortBlock bytes, one latency-bound chain.
  while (end - p >= 8) {
    const uint64_t w = Load64(p);
    l = _mm_crc32_u64(l, w);
    if constexpr (kCopy) {
      Store64(d, w);
      d += 8;
    }
    p += 8;
  }
  while (p != end) byte();
  return ~static_cast<uint32_t>(l);
}

}  // namespace

uint32_t ExtendSse42(uint32_t crc, const char* data, size_t n) {
  return ExtendImpl<false>(crc, nullptr, reinterpret_cast<const uint8_t*>(data), n);
}

uint32_t ExtendCopySse42(uint32_t crc, char* dst, const char* src, size_t n) {
  return ExtendImpl<true>(crc, reinterpret_cast<uint8_t*>(dst), reinterpret_cast<const uint8_t*>(src), n);
}

}  // namespace crc32c
}  // namespace bundlefast

#endif  // x86-64 with SSE4.2
