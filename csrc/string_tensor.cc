// bundlefast: decoding and verifying DT_STRING payloads.
#include "string_tensor.h"

#include <cstdio>
#include <string>

#include "coding.h"
#include "crc32c.h"

namespace bundlefast {

namespace {
// CRC of the lengths as fixed-width integers: 4 bytes when the length fits in
// uint32, else 8 (FORMAT.md 4.2), in the writer's byte order. Batched through
// a stack buffer so the CRC kernel sees long runs.
uint32_t LengthChecksum(const std::vector<StringRef>& refs, bool big_endian) {
  char buf[4096];
  size_t used = 0;
  uint32_t crc = 0;
  for (const StringRef& r : refs) {
    if (used + 8 > sizeof(buf)) {
      crc = crc32c::Extend(crc, buf, used);
      used = 0;
    }
    if (r.length <= 0xffffffffull) {
      const auto v = static_cast<uint32_t>(r.length);
      big_endian ? EncodeFixed32BigEndian(buf + used, v) : EncodeFixed32(buf + used, v);
      used += 4;
    } else {
      big_endian ? EncodeFixed64BigEndian(buf + used, r.length) : EncodeFixed64(buf + used, r.length);
      used += 8;
    }
  }
  return crc32c::Extend(crc, buf, used);
}
}  // namespace

Status DecodeStringTensor(const char* data, uint64_t size, uint64_t n, bool big_endian, bool verify,
                          uint32_t masked_entry_crc, std::vector<StringRef>* out) {
  out->clear();
  // Each element needs at least one length byte, plus the 4-byte checksum.
  if (size < 4 || n > size - 4) {
    return Status::Corruption("string tensor of " + std::to_string(n) + " elements cannot fit in " +
                              std::to_string(size) + " bytes (needs at least " + std::to_string(n) + " + 4)");
  }
  out->reserve(static_cast<size_t>(n));
  const char* p = data;
  const char* const limit = data + size;
  uint64_t total = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t len;
    p = GetVarint64Ptr(p, limit, &len);
    if (!p) {
      return Status::Corruption("string lengths run past the payload (element " + std::to_string(i) + " of " +
                                std::to_string(n) + ")");
    }
    if (!CheckedAdd(total, len, &total) || total > size) {
      return Status::Corruption("string element " + std::to_string(i) + " has length " + std::to_string(len) +
                                ", more than the " + std::to_string(size) + "-byte payload holds");
    }
    out->push_back(StringRef{0, len});
  }
  const uint64_t header = static_cast<uint64_t>(p - data);
  if (size - header < 4 || size - header - 4 != total) {
    return Status::Corruption("string lengths add up to " + std::to_string(total) + " bytes, but the payload has " +
                              std::to_string(size - header < 4 ? 0 : size - header - 4) +
                              " bytes after the lengths and their checksum");
  }
  uint64_t offset = header + 4;
  for (StringRef& r : *out) {
    r.offset = offset;
    offset += r.length;
  }
  if (!verify) return Status::OK();

  const char* stored_bytes = data + header;
  const uint32_t stored = crc32c::Unmask(big_endian ? DecodeFixed32BigEndian(stored_bytes)
                                                    : DecodeFixed32(stored_bytes));
  const uint32_t lengths_crc = LengthChecksum(*out, big_endian);
  if (stored != lengths_crc) {
    return Status::ChecksumMismatch("string length checksum mismatch (offset " + std::to_string(header) +
                                    " in the payload): stored " + Hex32(stored) + ", computed " +
                                    Hex32(lengths_crc));
  }
  uint32_t crc = crc32c::Extend(lengths_crc, stored_bytes, 4);
  crc = crc32c::Extend(crc, data + header + 4, static_cast<size_t>(total));
  const uint32_t expected = crc32c::Unmask(masked_entry_crc);
  if (crc != expected) {
    return Status::ChecksumMismatch("crc32c mismatch: stored " + Hex32(expected) + ", computed " + Hex32(crc));
  }
  return Status::OK();
}

// --- Encoding ---------------------------------------------------------------

uint32_t EncodeStringTensorHead(const std::vector<uint64_t>& lengths, bool big_endian, std::string* head) {
  std::vector<StringRef> refs;
  refs.reserve(lengths.size());
  for (const uint64_t length : lengths) {
    PutVarint64(head, length);
    refs.push_back(StringRef{0, length});
  }
  const uint32_t lengths_crc = LengthChecksum(refs, big_endian);
  char stored[4];
  const uint32_t masked = crc32c::Mask(lengths_crc);
  big_endian ? EncodeFixed32BigEndian(stored, masked) : EncodeFixed32(stored, masked);
  head->append(stored, 4);
  return crc32c::Extend(lengths_crc, stored, 4);
}

}  // namespace bundlefast
