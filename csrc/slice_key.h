// bundlefast: the index key of one stored slice of a partitioned tensor,
// TF's EncodeTensorNameSlice (OrderedCode), FORMAT.md 6.2.
#ifndef BUNDLEFAST_CSRC_SLICE_KEY_H_
#define BUNDLEFAST_CSRC_SLICE_KEY_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "bundle_entry.h"

namespace bundlefast {

// Returns the key under which the slice `slice` of tensor `name` is stored:
//   OC_uint(0) ‖ OC_str(name) ‖ OC_uint(rank) ‖ per dim OC_sint(start) ‖ OC_sint(length)
// The numbers are the TensorSliceProto's own (a full dimension is start 0,
// length -1, encoded `80 7f`), because TF rebuilds keys from the protos and a
// key built from resolved extents would not be found. Never fails: any name
// and any int64 values encode.
std::string EncodeTensorNameSlice(std::string_view name, const TensorSlice& slice);

// The OrderedCode primitives, exposed for tests (FORMAT.md 15.5 vectors).
// WriteNumIncreasing: a length byte, then the value big-endian, no leading zeros.
void OrderedCodeWriteNumIncreasing(std::string* dst, uint64_t value);
// WriteString: 00 -> 00 ff, ff -> ff 00, then the terminator 00 01.
void OrderedCodeWriteString(std::string* dst, std::string_view s);
// WriteSignedNumIncreasing: 1..10 bytes whose memcmp order is numeric order.
void OrderedCodeWriteSignedNumIncreasing(std::string* dst, int64_t value);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_SLICE_KEY_H_
