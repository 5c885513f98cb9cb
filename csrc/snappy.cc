// bundlefast: raw Snappy decompression for historical `.index` blocks.
//
// Format (google/snappy format_description.txt): varint32 uncompressed length,
// then elements whose tag byte's low 2 bits select
//   00 literal   length-1 in the upper 6 bits, or 60..63 => 1..4 length bytes follow
//   01 copy      length 4..11, 11-bit offset (3 bits in the tag + 1 byte)
//   10 copy      length 1..64, 16-bit offset
//   11 copy      length 1..64, 32-bit offset
// Copies may overlap their own output (offset < length repeats a pattern), so
// they are done byte by byte when they overlap.
#include "snappy.h"

#include <cstdint>

#include "coding.h"

namespace bundlefast {

namespace {
// The densest element, a 3-byte copy, yields 64 bytes: no valid stream expands
// by more than 64/3, so a larger declared length is a lie we refuse up front.
constexpr uint64_t kMaxExpansion = 22;

Status Bad(const std::string& what, uint64_t pos) {
  return Status::Corruption("snappy: " + what + " at input byte " + std::to_string(pos));
}
}  // namespace

Status SnappyUncompress(std::string_view input, std::string* out) {
  const char* const begin = input.data();
  const char* p = begin;
  const char* const limit = begin + input.size();
  uint32_t expected = 0;
  p = GetVarint32Ptr(p, limit, &expected);
  if (!p) return Bad("bad length preamble", 0);
  if (expected > kMaxExpansion * input.size() + 64) {
    return Bad("declared length " + std::to_string(expected) + " cannot come from " +
                   std::to_string(input.size()) + " bytes",
               0);
  }
  out->clear();
  out->reserve(expected);
  while (p < limit) {
    const uint64_t pos = static_cast<uint64_t>(p - begin);
    const auto tag = static_cast<unsigned char>(*p++);
    uint64_t length, offset = 0;
    if ((tag & 3) == 0) {  // literal
      length = (tag >> 2) + 1u;
      if (length > 60) {
        const size_t extra = length - 60;  // 1..4 little-endian bytes of length-1
        if (static_cast<size_t>(limit - p) < extra) return Bad("truncated literal length", pos);
        length = 0;
        for (size_t i = 0; i < extra; ++i) length |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
        length += 1;
        p += extra;
      }
      if (static_cast<uint64_t>(limit - p) < length) return Bad("literal runs past the input", pos);
      if (length > expected - out->size()) return Bad("output longer than declared", pos);
      out->append(p, static_cast<size_t>(length));
      p += length;
      continue;
    }
    const size_t offset_bytes = (tag & 3) == 1 ? 1 : ((tag & 3) == 2 ? 2 : 4);
    if (static_cast<size_t>(limit - p) < offset_bytes) return Bad("truncated copy", pos);
    if ((tag & 3) == 1) {
      length = 4 + ((tag >> 2) & 7u);
      offset = (static_cast<uint64_t>(tag >> 5) << 8) | static_cast<unsigned char>(p[0]);
    } else {
      length = (tag >> 2) + 1u;
      for (size_t i = 0; i < offset_bytes; ++i) offset |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
    }
    p += offset_bytes;
    if (offset == 0 || offset > out->size()) return Bad("copy offset " + std::to_string(offset) + " outside the output", pos);
    if (length > expected - out->size()) return Bad("output longer than declared", pos);
    const size_t from = out->size() - static_cast<size_t>(offset);
    for (uint64_t i = 0; i < length; ++i) out->push_back((*out)[from + i]);
  }
  if (out->size() != expected) {
    return Bad("output is " + std::to_string(out->size()) + " bytes, declared " + std::to_string(expected),
               input.size());
  }
  return Status::OK();
}

}  // namespace bundlefast
