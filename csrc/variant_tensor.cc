// bundlefast: decoding and verifying DT_VARIANT payloads.
//
// TF's WriteVariantTensor keeps ONE running CRC over the whole tensor, unlike
// strings: it extends it with the length as an 8-byte integer (always 8,
// whatever the varint width), the proto bytes, and then with the 4 bytes of
// the masked checksum it has just written after the element. So element i's
// stored checksum covers every earlier element too, and the entry CRC is the
// running CRC after the last checksum.
#include "variant_tensor.h"

#include <cstdio>
#include <string>

#include "coding.h"
#include "crc32c.h"

namespace bundlefast {

namespace {
// The smallest element: a 1-byte varint (length 0) and its 4-byte checksum.
constexpr uint64_t kMinElementBytes = 5;
}  // namespace

Status DecodeVariantTensor(const char* data, uint64_t size, uint64_t n, bool verify, uint32_t masked_entry_crc,
                           std::vector<StringRef>* out) {
  out->clear();
  if (n > size / kMinElementBytes) {
    return Status::Corruption("variant tensor of " + std::to_string(n) + " elements cannot fit in " +
                              std::to_string(size) + " bytes (each needs at least 5)");
  }
  out->reserve(static_cast<size_t>(n));
  uint64_t pos = 0;
  uint32_t crc = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t len;
    const char* p = GetVarint64Ptr(data + pos, data + size, &len);
    if (!p) {
      return Status::Corruption("variant element " + std::to_string(i) + " of " + std::to_string(n) +
                                ": its length (offset " + std::to_string(pos) + " in the payload) runs past the end");
    }
    const uint64_t body = static_cast<uint64_t>(p - data);
    // The element's bytes and its 4-byte checksum must both fit.
    if (size - body < 4 || len > size - body - 4) {
      return Status::Corruption("variant element " + std::to_string(i) + " of " + std::to_string(n) + " has length " +
                                std::to_string(len) + " at offset " + std::to_string(body) + ", but only " +
                                std::to_string(size - body) + " bytes are left (element plus 4-byte checksum)");
    }
    out->push_back(StringRef{body, len});
    pos = body + len + 4;
    if (verify) {
      char len8[8];
      EncodeFixed64(len8, len);
      crc = crc32c::Extend(crc, len8, 8);
      crc = crc32c::Extend(crc, data + body, static_cast<size_t>(len));
      const char* stored_bytes = data + body + len;
      const uint32_t stored = crc32c::Unmask(DecodeFixed32(stored_bytes));
      if (stored != crc) {
        return Status::ChecksumMismatch("checksum after variant element " + std::to_string(i) + " (offset " +
                                        std::to_string(body + len) + " in the payload) does not match: stored " +
                                        Hex32(stored) + ", computed " + Hex32(crc));
      }
      crc = crc32c::Extend(crc, stored_bytes, 4);
    }
  }
  if (pos != size) {
    return Status::Corruption("variant elements end at byte " + std::to_string(pos) + ", but the payload has " +
                              std::to_string(size) + " bytes");
  }
  if (verify) {
    const uint32_t expected = crc32c::Unmask(masked_entry_crc);
    if (crc != expected) {
      return Status::ChecksumMismatch("crc32c mismatch: stored " + Hex32(expected) + ", computed " + Hex32(crc));
    }
  }
  return Status::OK();
}

// --- Encoding ---------------------------------------------------------------

uint32_t EncodeVariantTensor(const std::vector<std::string_view>& elements, std::string* dst) {
  uint32_t crc = 0;
  char fixed[8];
  for (const std::string_view element : elements) {
    PutVarint64(dst, element.size());
    EncodeFixed64(fixed, element.size());  // the CRC sees the length as 8 bytes, always
    crc = crc32c::Extend(crc, fixed, 8);
    crc = crc32c::Extend(crc, element.data(), element.size());
    dst->append(element.data(), element.size());
    EncodeFixed32(fixed, crc32c::Mask(crc));
    dst->append(fixed, 4);
    crc = crc32c::Extend(crc, fixed, 4);
  }
  return crc32c::Mask(crc);
}

}  // namespace bundlefast
