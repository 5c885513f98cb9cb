// bundlefast: decoding BundleHeaderProto / BundleEntryProto.
//
//   BundleHeaderProto { int32 num_shards = 1; Endianness endianness = 2; VersionDef version = 3; }
//   VersionDef        { int32 producer = 1; int32 min_consumer = 2; repeated int32 bad_consumers = 3; }
//   BundleEntryProto  { DataType dtype = 1; TensorShapeProto shape = 2; int32 shard_id = 3;
//                       int64 offset = 4; int64 size = 5; fixed32 crc32c = 6;
//                       repeated TensorSliceProto slices = 7; }
//   TensorShapeProto  { repeated Dim dim = 2 { int64 size = 1; string name = 2; } bool unknown_rank = 3; }
//   TensorSliceProto  { repeated Extent extent = 1 { int64 start = 1; oneof { int64 length = 2; } } }
// proto3 semantics: absent scalars are 0, a repeated singular field keeps the
// last value, repeated submessages merge, unknown fields are skipped.
#include "bundle_entry.h"

#include "coding.h"
#include "proto_wire.h"

namespace bundlefast {

namespace {
constexpr int32_t kConsumerVersion = 1;  // kTensorBundleVersion
constexpr int32_t kMinProducer = 0;      // kTensorBundleMinProducer

bool DecodeVersion(std::string_view bytes, BundleHeader* h) {
  ProtoReader r(bytes);
  while (r.Next()) {
    if (r.is(1, WireType::kVarint)) {
      h->producer = r.int32();
    } else if (r.is(2, WireType::kVarint)) {
      h->min_consumer = r.int32();
    } else if (r.is(3, WireType::kVarint)) {  // unpacked repeated
      h->bad_consumers.push_back(r.int32());
    } else if (r.is(3, WireType::kBytes)) {  // packed repeated
      const std::string_view packed = r.bytes();
      const char* p = packed.data();
      const char* limit = p + packed.size();
      while (p < limit) {
        uint64_t v;
        p = GetVarint64Ptr(p, limit, &v);
        if (!p) return false;
        h->bad_consumers.push_back(static_cast<int32_t>(static_cast<uint32_t>(v)));
      }
    }
  }
  return r.ok();
}

bool DecodeShape(std::string_view bytes, std::vector<int64_t>* shape) {
  ProtoReader r(bytes);
  while (r.Next()) {
    if (!r.is(2, WireType::kBytes)) continue;  // unknown_rank (3) is ignored, as TF does
    if (shape->size() > static_cast<size_t>(kMaxRank)) return true;  // reported by the caller
    int64_t size = 0;
    ProtoReader dim(r.bytes());
    while (dim.Next()) {
      if (dim.is(1, WireType::kVarint)) size = dim.int64();
    }
    if (!dim.ok()) return false;
    shape->push_back(size);
  }
  return r.ok();
}

bool DecodeSlice(std::string_view bytes, TensorSlice* slice) {
  ProtoReader r(bytes);
  while (r.Next()) {
    if (!r.is(1, WireType::kBytes)) continue;
    if (slice->size() > static_cast<size_t>(kMaxRank)) return false;
    SliceExtent e;
    ProtoReader ext(r.bytes());
    while (ext.Next()) {
      if (ext.is(1, WireType::kVarint)) e.start = ext.int64();
      if (ext.is(2, WireType::kVarint)) e.length = ext.int64();
    }
    if (!ext.ok()) return false;
    slice->push_back(e);
  }
  return r.ok();
}
}  // namespace

Status DecodeBundleHeader(std::string_view bytes, const std::string& where, BundleHeader* header) {
  *header = BundleHeader();
  ProtoReader r(bytes);
  bool version_ok = true;
  while (version_ok && r.Next()) {
    if (r.is(1, WireType::kVarint)) {
      header->num_shards = r.int32();
    } else if (r.is(2, WireType::kVarint)) {
      header->endianness = r.int32();
    } else if (r.is(3, WireType::kBytes)) {
      version_ok = DecodeVersion(r.bytes(), header);
    }
  }
  if (!r.ok() || !version_ok) {
    return Status::Corruption(where + ": unable to parse header: entry for key \"\" is not a BundleHeaderProto");
  }
  if (header->num_shards < 1) {
    return Status::Corruption(where + ": header says num_shards = " + std::to_string(header->num_shards) +
                              ", expected at least 1");
  }
  if (header->producer < kMinProducer) {
    return Status::NotSupported(where + ": checkpoint producer version " + std::to_string(header->producer) +
                                " below min producer 0 supported by this reader");
  }
  if (header->min_consumer > kConsumerVersion) {
    return Status::NotSupported(where + ": checkpoint min consumer version " +
                                std::to_string(header->min_consumer) +
                                " above current version 1: written by a newer format version");
  }
  for (int32_t bad : header->bad_consumers) {
    if (bad == kConsumerVersion) {
      return Status::NotSupported(where + ": checkpoint disallows consumer version 1");
    }
  }
  return Status::OK();
}

Status DecodeBundleEntry(std::string_view bytes, int32_t num_shards, BundleEntry* entry) {
  *entry = BundleEntry();
  ProtoReader r(bytes);
  bool ok = true;
  while (ok && r.Next()) {
    switch (r.field()) {
      case 1:
        if (r.wire_type() == WireType::kVarint) entry->dtype = r.int32();
        break;
      case 2:
        if (r.wire_type() == WireType::kBytes) ok = DecodeShape(r.bytes(), &entry->shape);
        break;
      case 3:
        if (r.wire_type() == WireType::kVarint) entry->shard_id = r.int32();
        break;
      case 4:
        if (r.wire_type() == WireType::kVarint) entry->offset = r.int64();
        break;
      case 5:
        if (r.wire_type() == WireType::kVarint) entry->size = r.int64();
        break;
      case 6:
        if (r.wire_type() == WireType::kFixed32) {
          entry->masked_crc32c = static_cast<uint32_t>(r.varint());
          entry->has_crc32c = true;
        }
        break;
      case 7:
        if (r.wire_type() == WireType::kBytes) {
          entry->slices.emplace_back();
          ok = DecodeSlice(r.bytes(), &entry->slices.back());
        }
        break;
      default:
        break;
    }
  }
  if (!ok || !r.ok()) return Status::Corruption("entry is not a parseable BundleEntryProto");

  if (entry->shape.size() > static_cast<size_t>(kMaxRank)) {
    return Status::Corruption("invalid tensor shape: rank above the maximum of 254");
  }
  uint64_t elements = 1;
  for (int64_t d : entry->shape) {
    if (d < 0 || !CheckedMul(elements, static_cast<uint64_t>(d), &elements) ||
        elements > static_cast<uint64_t>(INT64_MAX)) {
      return Status::Corruption("invalid tensor shape " + ShapeString(entry->shape) +
                                ": negative dimension or element count overflows int64");
    }
  }
  if (entry->slices.empty()) {
    if (entry->shard_id < 0 || entry->shard_id >= num_shards) {
      return Status::Corruption("shard_id " + std::to_string(entry->shard_id) + " outside [0, " +
                                std::to_string(num_shards) + ")");
    }
    if (entry->offset < 0 || entry->size < 0) {
      return Status::Corruption("negative offset " + std::to_string(entry->offset) + " or size " +
                                std::to_string(entry->size));
    }
  }
  return Status::OK();
}

uint64_t NumElements(const BundleEntry& entry) {
  uint64_t n = 1;
  for (int64_t d : entry.shape) n *= static_cast<uint64_t>(d);
  return n;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// --- Encoding ---------------------------------------------------------------
// proto3 as TF's C++ runtime writes it: int32/int64/enum fields are varints
// (negative values as 10-byte two's complement), omitted when 0.

namespace {
void PutTag(std::string* dst, uint32_t field, WireType wire) {
  PutVarint64(dst, (static_cast<uint64_t>(field) << 3) | static_cast<uint32_t>(wire));
}

void PutIntField(std::string* dst, uint32_t field, int64_t value) {
  if (value == 0) return;
  PutTag(dst, field, WireType::kVarint);
  PutVarint64(dst, static_cast<uint64_t>(value));
}

void PutMessageField(std::string* dst, uint32_t field, const std::string& body) {
  PutTag(dst, field, WireType::kBytes);
  PutVarint64(dst, body.size());
  dst->append(body);
}

size_t VarintLength(uint64_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

// The bytes of a Dim {size: d}: a size-0 dimension is an empty Dim.
size_t DimSize(int64_t d) { return d == 0 ? 0 : 1 + VarintLength(static_cast<uint64_t>(d)); }

// The shape as a TensorShapeProto field, straight into `dst`: sizes are
// computed first rather than by encoding into temporaries (the writer encodes
// 50k of these for a big model).
void PutShapeField(std::string* dst, uint32_t field, const std::vector<int64_t>& shape) {
  size_t body = 0;
  for (const int64_t d : shape) body += 1 + VarintLength(DimSize(d)) + DimSize(d);
  PutTag(dst, field, WireType::kBytes);
  PutVarint64(dst, body);
  for (const int64_t d : shape) {
    PutTag(dst, 2, WireType::kBytes);
    PutVarint64(dst, DimSize(d));
    PutIntField(dst, 1, d);
  }
}

std::string EncodeSlice(const TensorSlice& slice) {
  std::string body, extent;
  for (const SliceExtent& e : slice) {
    extent.clear();
    if (e.length != -1) {  // a full dimension is an empty Extent
      PutIntField(&extent, 1, e.start);
      PutTag(&extent, 2, WireType::kVarint);  // in a oneof: written even when 0
      PutVarint64(&extent, static_cast<uint64_t>(e.length));
    }
    PutMessageField(&body, 1, extent);
  }
  return body;
}
}  // namespace

void EncodeBundleHeader(const BundleHeader& header, std::string* dst) {
  PutIntField(dst, 1, header.num_shards);
  PutIntField(dst, 2, header.endianness);
  std::string version;
  PutIntField(&version, 1, header.producer);
  PutIntField(&version, 2, header.min_consumer);
  if (!header.bad_consumers.empty()) {
    std::string packed;
    for (const int32_t v : header.bad_consumers) PutVarint64(&packed, static_cast<uint64_t>(static_cast<int64_t>(v)));
    PutMessageField(&version, 3, packed);
  }
  PutMessageField(dst, 3, version);
}

void EncodeBundleEntry(const BundleEntry& entry, std::string* dst) {
  PutIntField(dst, 1, entry.dtype);
  PutShapeField(dst, 2, entry.shape);
  if (entry.slices.empty()) {
    PutIntField(dst, 3, entry.shard_id);
    PutIntField(dst, 4, entry.offset);
    PutIntField(dst, 5, entry.size);
    if (entry.masked_crc32c != 0) {
      PutTag(dst, 6, WireType::kFixed32);
      char fixed[4];
      EncodeFixed32(fixed, entry.masked_crc32c);
      dst->append(fixed, 4);
    }
  }
  for (const TensorSlice& slice : entry.slices) PutMessageField(dst, 7, EncodeSlice(slice));
}

}  // namespace bundlefast

