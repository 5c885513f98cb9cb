// bundlefast: the portable CRC32C kernel (slice-by-8) and the GF(2) arithmetic
// every kernel shares: Combine() and the zero-shift tables in
// crc32c_internal.h.
//
// Built without ISA flags, so it runs on any CPU. All tables are computed at
// compile time: no start-up cost, no initialization race, read-only pages.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "crc32c.h"
#include "crc32c_internal.h"

namespace bundlefast {
namespace crc32c {

namespace {

// --- GF(2) polynomial arithmetic modulo P -----------------------------------
// Polynomials are bit-reflected like the CRC register: bit 31 holds x^0 and
// bit 0 holds x^31. This is zlib's multmodp/x2nmodp (crc32.c, 1.2.12+) with
// the Castagnoli polynomial.

constexpr uint32_t kXPow0 = 1u << 31;  // the polynomial 1

// Returns a(x) * b(x) mod P. Fixed 32 steps, so it is also usable where a is 0.
constexpr uint32_t MultModP(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t m = kXPow0; m != 0; m >>= 1) {
    if (a & m) product ^= b;
    b = (b & 1) ? (b >> 1) ^ kCastagnoliPoly : b >> 1;  // b *= x
  }
  return product;
}

// kX2n[k] = x^(2^k) mod P. X8nModP starts at k = 3 (a byte is 2^3 bits) and
// walks the 64 bits of a byte count, hence 67 entries. (zlib keeps 32 and
// wraps k, which relies on the order of x mod P dividing 2^32 - 1; a full
// table needs no such argument.)
constexpr int kX2nSize = 67;
struct X2nTable {
  uint32_t t[kX2nSize];
};
constexpr X2nTable MakeX2nTable() {
  X2nTable x{};
  x.t[0] = kXPow0 >> 1;  // x^1
  for (int k = 1; k < kX2nSize; ++k) x.t[k] = MultModP(x.t[k - 1], x.t[k - 1]);
  return x;
}
constexpr X2nTable kX2n = MakeX2nTable();

// Returns x^(8 * n) mod P: the operator that appends n zero bytes. O(log n).
constexpr uint32_t X8nModP(uint64_t n) {
  uint32_t p = kXPow0;
  for (int k = 3; n != 0; n >>= 1, ++k) {
    if (n & 1) p = MultModP(kX2n.t[k], p);
  }
  return p;
}

constexpr ZeroShiftTable MakeZeroShiftTable(size_t zero_bytes) {
  const uint32_t op = X8nModP(zero_bytes);
  ZeroShiftTable z{};
  for (uint32_t i = 0; i < 256; ++i) {
    for (int byte = 0; byte < 4; ++byte) z.t[byte][i] = MultModP(op, i << (8 * byte));
  }
  return z;
}

// --- Slice-by-8 tables --------------------------------------------------------
// t[0] is the classic byte-at-a-time table; t[k][b] is the register after
// byte b followed by k zero bytes, so eight input bytes resolve with eight
// independent lookups instead of a serial chain of eight (Intel's
// "slicing-by-8", Kounavis and Berry 2005).
struct SliceTables {
  uint32_t t[8][256];
};
constexpr SliceTables MakeSliceTables() {
  SliceTables s{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? (c >> 1) ^ kCastagnoliPoly : c >> 1;
    s.t[0][i] = c;
  }
  for (int k = 1; k < 8; ++k) {
    for (uint32_t i = 0; i < 256; ++i) {
      s.t[k][i] = (s.t[k - 1][i] >> 8) ^ s.t[0][s.t[k - 1][i] & 0xff];
    }
  }
  return s;
}
constexpr SliceTables kSlice = MakeSliceTables();

// Compile-time self-checks: a wrong table fails the build, not a test run.
static_assert(kSlice.t[0][1] == 0xf26b8303u, "CRC32C byte table is wrong");
static_assert(MultModP(kXPow0, 0x12345678u) == 0x12345678u, "1 * b != b");
static_assert(X8nModP(0) == kXPow0, "x^0 != 1");
static_assert(MultModP(X8nModP(3), X8nModP(5)) == X8nModP(8), "x^24 * x^40 != x^64");

// Assembles a little-endian word byte by byte: the host's byte order does not
// matter, and compilers turn it into one (unaligned-safe) load.
inline uint32_t ReadLE32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

}  // namespace

// Defined here, constant-initialized; declared in crc32c_internal.h.
constexpr ZeroShiftTable kShiftLongBlock = MakeZeroShiftTable(kLongBlock);
constexpr ZeroShiftTable kShiftMediumBlock = MakeZeroShiftTable(kMediumBlock);
constexpr ZeroShiftTable kShiftShortBlock = MakeZeroShiftTable(kShortBlock);

uint32_t ExtendPortable(uint32_t crc, const char* data, size_t n) {
  const auto* p = reinterpret_cast<const uint8_t*>(data);
  const uint8_t* const end = p + n;
  const auto& t = kSlice.t;
  uint32_t l = ~crc;
  while (end - p >= 8) {
    const uint32_t lo = ReadLE32(p) ^ l;
    const uint32_t hi = ReadLE32(p + 4);
    l = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
        t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    p += 8;
  }
  while (p != end) l = t[0][(l ^ *p++) & 0xff] ^ (l >> 8);
  return ~l;
}

uint32_t ExtendCopyBlocked(uint32_t (*extend)(uint32_t, const char*, size_t), uint32_t crc, char* dst,
                           const char* src, size_t n) {
  // 16 KiB: fits L1 next to the tables and the source's prefetched lines.
  constexpr size_t kBlock = 16 << 10;
  while (n > 0) {
    const size_t k = n < kBlock ? n : kBlock;
    std::memcpy(dst, src, k);
    crc = extend(crc, dst, k);
    dst += k;
    src += k;
    n -= k;
  }
  return crc;
}

uint32_t ExtendCopyPortable(uint32_t crc, char* dst, const char* src, size_t n) {
  return ExtendCopyBlocked(&ExtendPortable, crc, dst, src, n);
}

// The pre- and post-inversion of A's CRC cancel against B's, so finished CRCs
// combine exactly like raw registers: crc(A || B) = crc(A) * x^(8|B|) + crc(B)
// (zlib crc32_combine).
uint32_t Combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  return MultModP(X8nModP(len_b), crc_a) ^ crc_b;
}

}  // namespace crc32c
}  // namespace bundlefast
