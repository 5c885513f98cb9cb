// bundlefast: SSTable block encoding (leveldb table/block_builder.cc).
//
// An entry stores the number of key bytes it shares with the previous key, the
// rest of the key, and the value:
//   shared:varint32 non_shared:varint32 value_len:varint32 key_delta value
// Every restart_interval entries the key is stored whole (shared = 0) and the
// entry's offset is appended to the restart array, so a reader can binary
// search the restarts; block.cc checks that array against the entries.
#include "block_builder.h"

#include "coding.h"

namespace bundlefast {

BlockBuilder::BlockBuilder(int restart_interval) : restart_interval_(restart_interval) { Reset(); }

void BlockBuilder::Reset() {
  buffer_.clear();
  restarts_.assign(1, 0);  // the first entry always restarts
  counter_ = 0;
}

namespace {
char* EncodeVarint64(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}
}  // namespace

void BlockBuilder::Add(std::string_view key, std::string_view value, size_t shared) {
  if (counter_ >= restart_interval_) {
    restarts_.push_back(static_cast<uint32_t>(buffer_.size()));
    counter_ = 0;
    shared = 0;
  } else if (buffer_.empty()) {
    shared = 0;
  }
  char head[30];  // three varints
  char* end = EncodeVarint64(head, shared);
  end = EncodeVarint64(end, key.size() - shared);
  end = EncodeVarint64(end, value.size());
  buffer_.append(head, static_cast<size_t>(end - head));
  buffer_.append(key.data() + shared, key.size() - shared);
  buffer_.append(value.data(), value.size());
  ++counter_;
}

std::string_view BlockBuilder::Finish() {
  char fixed[4];
  for (const uint32_t restart : restarts_) {
    EncodeFixed32(fixed, restart);
    buffer_.append(fixed, 4);
  }
  EncodeFixed32(fixed, static_cast<uint32_t>(restarts_.size()));
  buffer_.append(fixed, 4);
  return buffer_;
}

}  // namespace bundlefast
