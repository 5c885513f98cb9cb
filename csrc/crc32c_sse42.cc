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

// Where ThreeWay puts the words it checksums: nowhere (Extend), stored to
// the destination through the cache, or streamed past it with non-temporal
// stores (ExtendCopy of large buffers, see kStreamBytes).
enum class Sink { kNone, kStore, kStream };

template <Sink kSink>
inline void Put(uint8_t* d, uint64_t v) {
  if constexpr (kSink == Sink::kStore) {
    std::memcpy(d, &v, sizeof(v));  // unaligned-safe, the mirror of Load64
  } else if constexpr (kSink == Sink::kStream) {
    _mm_stream_si64(reinterpret_cast<long long*>(d), static_cast<long long>(v));
  }
}

// ExtendCopy streams the bulk of buffers this large past the cache, when
// the destination is already mapped in (DestinationMapped). A destination
// that size would not stay in L2 anyway, and a normal store first reads the
// line it writes (read-for-ownership): streaming saves that third of the
// memory traffic. Measured on a Zen 3 EPYC (2 vCPUs, shared) at 4, 8 and 94
// MiB: 1.3-1.8x the cached stores into memory already faulted in (a reused
// or prefaulted buffer; MakeEmpty prefaults). Into fresh pages it measured
// 0.7x: the fault handler has just zeroed each page's lines into the cache,
// where cached stores hit them and streaming ones must evict them; there,
// cached stores keep up with memcpy. At 1 MiB and below cached stores were
// as fast or faster, and they leave the copy in cache for its next reader.
constexpr size_t kStreamBytes = 4 << 20;

// Consumes 3 * kBlock bytes at p as three parallel streams and returns the
// raw register after all of them. Each iteration advances every stream by
// one 64-byte cache line, which keeps loop overhead off the crc32 port.
//
// With a sink, every 8-byte word is also written to the same offset at d
// right after it is loaded: the copy costs one store per crc32, and the
// source is read from memory once, by the CRC's own loads (ExtendCopy).
// With Sink::kNone, d is unused.
//
// With kPrefetchNext, each iteration also prefetches three lines of the
// *next* 3 * kBlock bytes into L2, so the whole next region is in flight
// before the streams reach it. Measured on a Zen 4 (EPYC): ~30% faster out
// of cache (64 MiB and 440 MB buffers), neutral in cache. The hardware
// prefetchers, which stop at 4 KiB page boundaries, evidently do not keep
// three interleaved streams fed on their own. The caller enables it only
// when those bytes are inside the buffer: a prefetch never faults, but it
// should not touch memory we were not given.
template <size_t kBlock, bool kPrefetchNext, Sink kSink>
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
      Put<kSink>(d + i, w0);
      Put<kSink>(d + kBlock + i, w1);
      Put<kSink>(d + 2 * kBlock + i, w2);
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
    if constexpr (kSink != Sink::kNone) d += 64;
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
  constexpr Sink kSink = kCopy ? Sink::kStore : Sink::kNone;
  const uint8_t* const end = p + n;
  uint64_t l = static_cast<uint32_t>(~crc);
  // One byte or one word of the head and the tail.
  const auto byte = [&] {
    if constexpr (kCopy) *d++ = *p;
    l = _mm_crc32_u8(static_cast<uint32_t>(l), *p++);
  };

  // Align to 8 bytes so that no 8-byte access straddles a cache line (each
  // straddling one costs an extra cache access). Only worth it when the bulk
  // loops will run. That is the source, unless the copy streams: a
  // straddling non-temporal store is the dearer one (two partial lines).
  const bool stream = kCopy && n >= kStreamBytes && DestinationMapped(reinterpret_cast<char*>(d), n);
  if (n >= 3 * kShortBlock) {
    while (reinterpret_cast<uintptr_t>(stream ? d : p) & 7) byte();
  }
  const auto three_way = [&](auto block, auto prefetch, auto sink, const ZeroShiftTable& shift) {
    constexpr size_t kBlock = decltype(block)::value;
    l = ThreeWay<kBlock, decltype(prefetch)::value, decltype(sink)::value>(l, p, d, shift);
    p += 3 * kBlock;
    if constexpr (kCopy) d += 3 * kBlock;
  };
  using Long = std::integral_constant<size_t, kLongBlock>;
  using Medium = std::integral_constant<size_t, kMediumBlock>;
  using Short = std::integral_constant<size_t, kShortBlock>;
  using Prefetch = std::true_type;
  using NoPrefetch = std::false_type;
  using Cached = std::integral_constant<Sink, kSink>;
  using Streamed = std::integral_constant<Sink, Sink::kStream>;
  if (stream) {
    while (static_cast<size_t>(end - p) >= 6 * kLongBlock) three_way(Long(), Prefetch(), Streamed(), kShiftLongBlock);
    // Non-temporal stores are weakly ordered: make them visible before the
    // caller signals another thread that the copy is done.
    _mm_sfence();
  }
  while (static_cast<size_t>(end - p) >= 6 * kLongBlock) three_way(Long(), Prefetch(), Cached(), kShiftLongBlock);
  while (static_cast<size_t>(end - p) >= 3 * kLongBlock) three_way(Long(), NoPrefetch(), Cached(), kShiftLongBlock);
  while (static_cast<size_t>(end - p) >= 3 * kMediumBlock) three_way(Medium(), NoPrefetch(), Cached(), kShiftMediumBlock);
  while (static_cast<size_t>(end - p) >= 3 * kShortBlock) three_way(Short(), NoPrefetch(), Cached(), kShiftShortBlock);
  // Tail: under 3 * kShortBlock bytes, one latency-bound chain.
  while (end - p >= 8) {
    const uint64_t w = Load64(p);
    l = _mm_crc32_u64(l, w);
    if constexpr (kCopy) {
      Put<kSink>(d, w);
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
