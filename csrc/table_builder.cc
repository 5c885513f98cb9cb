// bundlefast: SSTable writing (leveldb table/table_builder.cc as TensorFlow
// configures and modifies it, FORMAT.md 2.7).
//
// TF departs from leveldb in two ways that matter for identical bytes: an
// entry of at least twice the block size first closes the current block (so a
// huge entry gets a block of its own), and the file is written in one piece.
// Every block is followed by its trailer: type byte 0 (no compression) and the
// masked CRC32C of the block bytes plus that type byte.
#include "table_builder.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "coding.h"
#include "crc32c.h"

namespace bundlefast {

namespace {
constexpr char kNoCompression = 0;
}  // namespace

void EncodeBlockHandle(const BlockHandle& handle, std::string* dst) {
  PutVarint64(dst, handle.offset);
  PutVarint64(dst, handle.size);
}

size_t SharedPrefixLength(std::string_view a, std::string_view b) {
  const size_t limit = std::min(a.size(), b.size());
  size_t i = 0;
  for (; i + 8 <= limit; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (x != y) break;
  }
  while (i < limit && a[i] == b[i]) ++i;
  return i;
}

std::string ShortestSeparator(std::string_view start, std::string_view limit) {
  const size_t min_length = std::min(start.size(), limit.size());
  size_t i = 0;
  while (i < min_length && start[i] == limit[i]) ++i;
  if (i < min_length) {
    const auto a = static_cast<unsigned char>(start[i]);
    const auto b = static_cast<unsigned char>(limit[i]);
    if (a < 0xff && a + 1 < b) {
      std::string shorter(start.substr(0, i));
      shorter.push_back(static_cast<char>(a + 1));
      return shorter;
    }
  }
  return std::string(start);
}

std::string ShortSuccessor(std::string_view key) {
  for (size_t i = 0; i < key.size(); ++i) {
    const auto byte = static_cast<unsigned char>(key[i]);
    if (byte != 0xff) {
      std::string successor(key.substr(0, i));
      successor.push_back(static_cast<char>(byte + 1));
      return successor;
    }
  }
  return std::string(key);  // all 0xff (or empty): no shorter successor
}

TableBuilder::TableBuilder(size_t block_size) : block_size_(block_size), data_block_(16), index_block_(1) {}

Status TableBuilder::Add(std::string_view key, std::string_view value) {
  // One scan finds both whether key > last key and the prefix they share,
  // which the data block stores once.
  const size_t limit = std::min(last_key_.size(), key.size());
  const size_t shared = SharedPrefixLength(last_key_, key);
  const bool increasing = shared < limit ? static_cast<unsigned char>(last_key_[shared]) <
                                               static_cast<unsigned char>(key[shared])
                                         : key.size() > last_key_.size();
  if (num_entries_ > 0 && !increasing) {
    return Status::InvalidArgument("table keys must be strictly increasing: a key of " +
                                   std::to_string(key.size()) + " bytes does not sort after the previous one");
  }
  // TF's rule: an overly large entry starts a block of its own.
  if (num_entries_ > 0 && key.size() + value.size() >= 2 * block_size_) Flush();
  if (pending_index_entry_) {
    std::string handle;
    EncodeBlockHandle(pending_handle_, &handle);
    index_block_.Add(ShortestSeparator(last_key_, key), handle, 0);
    pending_index_entry_ = false;
  }
  last_key_.assign(key.data(), key.size());
  ++num_entries_;
  data_block_.Add(key, value, shared);
  if (data_block_.CurrentSizeEstimate() >= block_size_) Flush();
  return Status::OK();
}

void TableBuilder::Flush() {
  if (data_block_.empty()) return;
  pending_handle_ = WriteBlock(data_block_.Finish());
  pending_index_entry_ = true;
  data_block_.Reset();
}

BlockHandle TableBuilder::WriteBlock(std::string_view block) {
  BlockHandle handle{file_.size(), block.size()};
  file_.append(block.data(), block.size());
  char trailer[kBlockTrailerSize];
  trailer[0] = kNoCompression;
  const uint32_t crc = crc32c::Extend(crc32c::Value(block.data(), block.size()), trailer, 1);
  EncodeFixed32(trailer + 1, crc32c::Mask(crc));
  file_.append(trailer, sizeof(trailer));
  return handle;
}

std::string TableBuilder::Finish() {
  Flush();
  BlockBuilder metaindex(16);
  const BlockHandle metaindex_handle = WriteBlock(metaindex.Finish());
  if (pending_index_entry_) {
    std::string handle;
    EncodeBlockHandle(pending_handle_, &handle);
    index_block_.Add(ShortSuccessor(last_key_), handle, 0);
    pending_index_entry_ = false;
  }
  const BlockHandle index_handle = WriteBlock(index_block_.Finish());
  std::string footer;
  EncodeBlockHandle(metaindex_handle, &footer);
  EncodeBlockHandle(index_handle, &footer);
  footer.resize(kFooterSize - 8, '\0');  // two handles padded to 2 x 20 bytes
  char magic[8];
  EncodeFixed64(magic, kTableMagicNumber);
  footer.append(magic, 8);
  file_ += footer;
  return std::move(file_);
}

}  // namespace bundlefast
