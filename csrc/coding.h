// bundlefast: little-endian fixed-width integers and bounds-checked varints.
//
// Every decoder takes an explicit [p, limit) range and returns nullptr rather
// than reading past `limit` (leveldb util/coding.h is the model). Fixed-width
// reads go through memcpy so unaligned input is fine on every CPU.
#ifndef BUNDLEFAST_CSRC_CODING_H_
#define BUNDLEFAST_CSRC_CODING_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace bundlefast {

inline uint32_t DecodeFixed32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(b[0]) | (static_cast<uint32_t>(b[1]) << 8) |
         (static_cast<uint32_t>(b[2]) << 16) | (static_cast<uint32_t>(b[3]) << 24);
}

inline uint64_t DecodeFixed64(const char* p) {
  return static_cast<uint64_t>(DecodeFixed32(p)) |
         (static_cast<uint64_t>(DecodeFixed32(p + 4)) << 32);
}

inline uint32_t DecodeFixed32BigEndian(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return (static_cast<uint32_t>(b[0]) << 24) | (static_cast<uint32_t>(b[1]) << 16) |
         (static_cast<uint32_t>(b[2]) << 8) | static_cast<uint32_t>(b[3]);
}

inline void EncodeFixed32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

inline void EncodeFixed64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

inline void EncodeFixed32BigEndian(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
}

inline void EncodeFixed64BigEndian(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (56 - 8 * i)) & 0xff);
}

// Decodes a base-128 varint of at most 10 bytes (64 bits). Returns the byte
// after it, or nullptr if it runs past `limit`, is longer than 10 bytes, or
// its 10th byte carries bits beyond 2^64.
inline const char* GetVarint64Ptr(const char* p, const char* limit, uint64_t* value) {
  uint64_t result = 0;
  for (uint32_t shift = 0; shift <= 63 && p < limit; shift += 7) {
    const uint64_t byte = static_cast<unsigned char>(*p++);
    if (shift == 63 && byte > 1) return nullptr;  // would overflow 64 bits
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *value = result;
      return p;
    }
  }
  return nullptr;
}

// As above for a varint32 (at most 5 bytes, value < 2^32).
inline const char* GetVarint32Ptr(const char* p, const char* limit, uint32_t* value) {
  // Fast path: one byte, the common case for block entry headers.
  if (p < limit && (static_cast<unsigned char>(*p) & 0x80) == 0) {
    *value = static_cast<unsigned char>(*p);
    return p + 1;
  }
  uint32_t result = 0;
  for (uint32_t shift = 0; shift <= 28 && p < limit; shift += 7) {
    const uint32_t byte = static_cast<unsigned char>(*p++);
    if (shift == 28 && byte > 0x0f) return nullptr;
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *value = result;
      return p;
    }
  }
  return nullptr;
}

inline void PutVarint64(std::string* dst, uint64_t v) {
  while (v >= 0x80) {
    dst->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  dst->push_back(static_cast<char>(v));
}

// Checked arithmetic for sizes read from disk; false on overflow.
inline bool CheckedMul(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
inline bool CheckedAdd(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

// True if [offset, offset + n) lies inside [0, length). Never overflows.
inline bool RangeInside(uint64_t offset, uint64_t n, uint64_t length) {
  return offset <= length && n <= length - offset;
}

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_CODING_H_
