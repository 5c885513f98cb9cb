// bundlefast: a minimal protobuf wire-format reader.
//
// Enough for the handful of small messages a bundle stores (BundleHeaderProto,
// BundleEntryProto, TensorShapeProto, TensorSliceProto, VersionDef, and the
// TrackableObjectGraph). Hand-written instead of libprotobuf: six fields do not
// justify a 2 MB dependency, and every read here is bounds-checked.
#ifndef BUNDLEFAST_CSRC_PROTO_WIRE_H_
#define BUNDLEFAST_CSRC_PROTO_WIRE_H_

#include <cstdint>
#include <string_view>

#include "coding.h"

namespace bundlefast {

enum class WireType : uint32_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

// Iterates the fields of one serialized message. Usage:
//   ProtoReader r(bytes);
//   while (r.Next()) switch (r.field()) { case 1: if (r.wire_type() == kVarint) x = r.varint(); ... }
//   if (!r.ok()) -> malformed
// Fields whose number or wire type the caller does not handle are simply not
// read (proto3 skips unknown fields); Next() skips their payload.
class ProtoReader {
 public:
  explicit ProtoReader(std::string_view data) : p_(data.data()), limit_(data.data() + data.size()) {}

  // Advances to the next field. Returns false at the end or on malformed
  // input; ok() tells which.
  bool Next() {
    if (p_ >= limit_ || !ok_) return false;
    uint64_t tag;
    const char* q = GetVarint64Ptr(p_, limit_, &tag);
    if (!q || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return Fail();
    field_ = static_cast<uint32_t>(tag >> 3);
    wire_ = static_cast<uint32_t>(tag & 7);
    switch (wire_) {
      case 0:
        q = GetVarint64Ptr(q, limit_, &varint_);
        if (!q) return Fail();
        break;
      case 1:
        if (limit_ - q < 8) return Fail();
        varint_ = DecodeFixed64(q);
        q += 8;
        break;
      case 2: {
        uint64_t len;
        q = GetVarint64Ptr(q, limit_, &len);
        if (!q || len > static_cast<uint64_t>(limit_ - q)) return Fail();
        bytes_ = std::string_view(q, static_cast<size_t>(len));
        q += len;
        break;
      }
      case 5:
        if (limit_ - q < 4) return Fail();
        varint_ = DecodeFixed32(q);
        q += 4;
        break;
      default:  // groups (3, 4) are deprecated and never written by TF; 6, 7 are invalid
        return Fail();
    }
    p_ = q;
    return true;
  }

  bool ok() const { return ok_; }
  uint32_t field() const { return field_; }
  WireType wire_type() const { return static_cast<WireType>(wire_); }
  bool is(uint32_t field, WireType wire) const { return field_ == field && wire_ == static_cast<uint32_t>(wire); }
  // The value of a varint, fixed32 or fixed64 field.
  uint64_t varint() const { return varint_; }
  // proto3 int32: the low 32 bits of the (possibly 10-byte, sign-extended) varint.
  int32_t int32() const { return static_cast<int32_t>(static_cast<uint32_t>(varint_)); }
  int64_t int64() const { return static_cast<int64_t>(varint_); }
  // The payload of a length-delimited field; views the input.
  std::string_view bytes() const { return bytes_; }

 private:
  bool Fail() {
    ok_ = false;
    return false;
  }
  const char* p_;
  const char* limit_;
  bool ok_ = true;
  uint32_t field_ = 0;
  uint32_t wire_ = 0;
  uint64_t varint_ = 0;
  std::string_view bytes_;
};

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_PROTO_WIRE_H_
