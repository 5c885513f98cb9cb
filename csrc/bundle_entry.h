// bundlefast: BundleHeaderProto and BundleEntryProto (tensor_bundle.proto), decoded
// from their wire bytes and validated, FORMAT.md section 3.
#ifndef BUNDLEFAST_CSRC_BUNDLE_ENTRY_H_
#define BUNDLEFAST_CSRC_BUNDLE_ENTRY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "status.h"

namespace bundlefast {

// The header stored under key "": shard count, data byte order, format version.
struct BundleHeader {
  int32_t num_shards = 0;
  int32_t endianness = 0;  // 0 LITTLE, 1 BIG; other values mean "no swap", as in TF
  int32_t producer = 0;
  int32_t min_consumer = 0;
  std::vector<int32_t> bad_consumers;
};

// One dimension of a TensorSliceProto: [start, start + length), or the whole
// dimension when length == -1 (the proto's unset `length`).
struct SliceExtent {
  int64_t start = 0;
  int64_t length = -1;
};
using TensorSlice = std::vector<SliceExtent>;

// The metadata of one tensor (or of one stored slice of a partitioned tensor).
struct BundleEntry {
  int32_t dtype = 0;
  std::vector<int64_t> shape;  // TF treats unknown_rank with no dims as a scalar
  int32_t shard_id = 0;
  int64_t offset = 0;
  int64_t size = 0;
  uint32_t masked_crc32c = 0;
  bool has_crc32c = false;
  // Non-empty => a partitioned full tensor whose data lives in slice entries.
  std::vector<TensorSlice> slices;
};

// Decodes the header and applies TF's version checks (consumer version 1,
// min producer 0). Malformed bytes: kCorruption; versions we must refuse:
// kNotSupported. `where` prefixes messages.
Status DecodeBundleHeader(std::string_view bytes, const std::string& where, BundleHeader* header);

// Decodes an entry and validates what can be checked without the data file:
// dims >= 0, rank <= 254, element count fits int64, shard_id in
// [0, num_shards), offset and size >= 0. Unknown fields are skipped.
Status DecodeBundleEntry(std::string_view bytes, int32_t num_shards, BundleEntry* entry);

// Product of the dims; REQUIRES: the entry passed DecodeBundleEntry.
uint64_t NumElements(const BundleEntry& entry);

// "[2,3]" — used in messages.
std::string ShapeString(const std::vector<int64_t>& shape);

constexpr int kMaxRank = 254;  // TensorShape::MaxDimensions

// --- Encoding (the writer's side of the layouts above) ----------------------
// Both produce exactly TF's C++ proto3 serialization (FORMAT.md 3.7): fields
// in number order, default scalars omitted, the shape always present, every
// dimension emitted, crc32c written unless it is 0, and for a partitioned full
// entry (non-empty `slices`) only dtype, shape and slices.

// Appends the serialized BundleHeaderProto: num_shards, endianness (only when
// BIG), version {producer, min_consumer, bad_consumers (packed)}.
void EncodeBundleHeader(const BundleHeader& header, std::string* dst);

// Appends the serialized BundleEntryProto. `has_crc32c` is ignored: the CRC of
// an empty payload is Mask(0), never 0, so a non-slice entry always has one.
void EncodeBundleEntry(const BundleEntry& entry, std::string* dst);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BUNDLE_ENTRY_H_
