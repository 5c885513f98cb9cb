// bundlefast: OrderedCode encoding of slice keys (tensorflow/core/lib/strings/
// ordered_code.cc and saved_tensor_slice_util.cc EncodeTensorNameSlice).
//
// OrderedCode makes memcmp order equal the order of the encoded values, which
// is why every slice key starts with OC_uint(0) = 00: slice keys sort before
// every ordinary tensor name. Only the encoder is needed: TF (and we) find a
// slice's entry by rebuilding its key from the full entry's `slices` list.
#include "slice_key.h"

namespace bundlefast {

namespace {
// Header bits XOR-ed into the first two bytes of an n-byte signed encoding,
// indexed by n (FORMAT.md 6.2, table H1/H2). They make longer encodings of
// positive numbers sort after shorter ones (and the reverse for negatives).
constexpr unsigned char kHeader1[11] = {0, 0x80, 0xc0, 0xe0, 0xf0, 0xf8, 0xfc, 0xfe, 0xff, 0xff, 0xff};
constexpr unsigned char kHeader2[11] = {0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0xc0};

int BitLength(uint64_t x) {
  int n = 0;
  while (x) {
    ++n;
    x >>= 1;
  }
  return n;
}
}  // namespace

void OrderedCodeWriteNumIncreasing(std::string* dst, uint64_t value) {
  unsigned char buf[9];
  int len = 0;
  for (uint64_t v = value; v; v >>= 8) ++len;
  buf[0] = static_cast<unsigned char>(len);
  for (int i = 0; i < len; ++i) buf[1 + i] = static_cast<unsigned char>(value >> (8 * (len - 1 - i)));
  dst->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(len + 1));
}

void OrderedCodeWriteString(std::string* dst, std::string_view s) {
  for (const char c : s) {
    if (c == '\x00') {
      dst->append("\x00\xff", 2);
    } else if (c == '\xff') {
      dst->append("\xff\x00", 2);
    } else {
      dst->push_back(c);
    }
  }
  dst->append("\x00\x01", 2);
}

void OrderedCodeWriteSignedNumIncreasing(std::string* dst, int64_t value) {
  // x = |value| folded so that -1 -> 0: the magnitude that decides the length.
  const uint64_t x = value < 0 ? ~static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  const int n = BitLength(x) / 7 + 1;  // 1..10 bytes
  // value as a 10-byte big-endian two's-complement number; keep the last n.
  unsigned char buf[10];
  const unsigned char sign = value < 0 ? 0xff : 0x00;
  buf[0] = sign;
  buf[1] = sign;
  const auto u = static_cast<uint64_t>(value);
  for (int i = 0; i < 8; ++i) buf[2 + i] = static_cast<unsigned char>(u >> (56 - 8 * i));
  unsigned char* begin = buf + 10 - n;
  begin[0] ^= kHeader1[n];
  if (n > 1) begin[1] ^= kHeader2[n];
  dst->append(reinterpret_cast<const char*>(begin), static_cast<size_t>(n));
}

std::string EncodeTensorNameSlice(std::string_view name, const TensorSlice& slice) {
  std::string key;
  key.reserve(name.size() + 8 + 4 * slice.size());
  OrderedCodeWriteNumIncreasing(&key, 0);
  OrderedCodeWriteString(&key, name);
  OrderedCodeWriteNumIncreasing(&key, slice.size());
  for (const SliceExtent& e : slice) {
    OrderedCodeWriteSignedNumIncreasing(&key, e.start);
    OrderedCodeWriteSignedNumIncreasing(&key, e.length);
  }
  return key;
}

}  // namespace bundlefast
