// bundlefast: the DT_STRING payload encoding (FORMAT.md 4.2).
#ifndef BUNDLEFAST_CSRC_STRING_TENSOR_H_
#define BUNDLEFAST_CSRC_STRING_TENSOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "status.h"

namespace bundlefast {

// Element i of a string tensor: bytes [offset, offset + length) of the payload.
struct StringRef {
  uint64_t offset;
  uint64_t length;
};

// Parses a string tensor payload of `n` elements occupying exactly `size`
// bytes at `data`:
//   varint64 len[n] ‖ fixed32 Mask(C_len) ‖ bytes s[0] ‖ ... ‖ s[n-1]
// Unlike TensorFlow, which only checks size >= n and ignores trailing bytes,
// the lengths must account for every byte of `size` exactly: a length that is
// off by one would otherwise silently shift every later string. `n` is
// checked against `size` before anything is allocated. With `verify`, both
// checksums are checked: the length checksum (CRC of the lengths as 4- or
// 8-byte integers in the writer's byte order) and the entry CRC, which extends
// it over the stored checksum bytes and the string bytes. Errors: kCorruption
// or kChecksumMismatch, message without file context (the caller adds it).
Status DecodeStringTensor(const char* data, uint64_t size, uint64_t n, bool big_endian, bool verify,
                          uint32_t masked_entry_crc, std::vector<StringRef>* out);

// --- Encoding ---------------------------------------------------------------

// Appends the head of the payload of a string tensor whose elements have
// `lengths`: every length as a varint64, then the masked length checksum in
// the writer's byte order. Returns the entry CRC so far (the length checksum
// extended over its 4 stored bytes); the caller extends it over the string
// bytes, written right after the head in element order, and stores Mask(crc).
// The payload size is head->size() (what was appended) + the sum of lengths.
uint32_t EncodeStringTensorHead(const std::vector<uint64_t>& lengths, bool big_endian, std::string* head);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_STRING_TENSOR_H_
