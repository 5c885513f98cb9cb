// bundlefast: the DT_VARIANT payload encoding (FORMAT.md 4.3).
#ifndef BUNDLEFAST_CSRC_VARIANT_TENSOR_H_
#define BUNDLEFAST_CSRC_VARIANT_TENSOR_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "status.h"
#include "string_tensor.h"

namespace bundlefast {

// Parses a variant tensor payload of `n` elements occupying exactly `size`
// bytes at `data`; element i is returned as the byte range of its serialized
// VariantTensorDataProto (the type-specific contents are not interpreted):
//   per element: varint64 L ‖ L bytes ‖ fixed32 Mask(running crc)
// Every length is checked against the bytes left before it is used, and `n`
// against `size` before anything is allocated; bytes left over after the last
// element are an error (TF writes none). With `verify`, the running CRC (8-byte
// LE lengths, the proto bytes, then each stored element checksum) is checked
// after every element and against the entry CRC at the end. Only
// little-endian payloads: TF refuses to byte-swap variants, and so does the
// caller. Errors: kCorruption or kChecksumMismatch, message without file
// context (the caller adds it).
Status DecodeVariantTensor(const char* data, uint64_t size, uint64_t n, bool verify, uint32_t masked_entry_crc,
                           std::vector<StringRef>* out);

// --- Encoding ---------------------------------------------------------------

// Appends the little-endian payload of a variant tensor whose elements are
// the serialized VariantTensorDataProtos `elements`, and returns the entry's
// masked CRC (the running CRC after the last element checksum).
uint32_t EncodeVariantTensor(const std::vector<std::string_view>& elements, std::string* dst);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_VARIANT_TENSOR_H_
