// bundlefast: writing the SSTable of a `.index` file, the layout table.cc reads.
#ifndef BUNDLEFAST_CSRC_TABLE_BUILDER_H_
#define BUNDLEFAST_CSRC_TABLE_BUILDER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "block_builder.h"
#include "status.h"
#include "table.h"

namespace bundlefast {

// TensorFlow's table options (FORMAT.md 2.7): 256 KiB data blocks, restart
// interval 16, no compression.
constexpr size_t kTableBlockSize = 262144;

// Builds a whole table in memory, byte-identical to what TF's table builder
// writes for the same keys and values: data blocks, an empty metaindex block,
// the index block (separator keys, restart interval 1), the footer. The index
// of even a 50k-tensor checkpoint is a few MB, so holding it is cheap, and the
// caller writes it with one call. Not thread-safe.
class TableBuilder {
 public:
  explicit TableBuilder(size_t block_size = kTableBlockSize);

  // Adds an entry. Keys must be strictly increasing in bytewise order
  // (kInvalidArgument otherwise, nothing added). REQUIRES: Finish() not called.
  Status Add(std::string_view key, std::string_view value);

  // Closes the last data block, writes the metaindex and index blocks and the
  // footer, and returns the file's bytes (moved out; the builder is spent).
  std::string Finish();

  // Room for a file of about `bytes`, so a big index is not copied as it grows.
  void Reserve(size_t bytes) { file_.reserve(bytes); }

  uint64_t num_entries() const { return num_entries_; }

 private:
  void Flush();
  BlockHandle WriteBlock(std::string_view block);

  const size_t block_size_;
  std::string file_;
  BlockBuilder data_block_;
  BlockBuilder index_block_;
  bool pending_index_entry_ = false;
  BlockHandle pending_handle_;
  std::string last_key_;
  uint64_t num_entries_ = 0;
};

// The comparator's key shortening (leveldb BytewiseComparator), exposed for
// tests (FORMAT.md 15.7). ShortestSeparator returns a short K with
// start <= K < limit; ShortSuccessor a short K >= key.
std::string ShortestSeparator(std::string_view start, std::string_view limit);
std::string ShortSuccessor(std::string_view key);

// How many leading bytes a and b have in common, compared 8 at a time: the
// writer asks for every key against the one before it (50k keys of a big
// model share long prefixes such as "model/layer_with_weights-").
size_t SharedPrefixLength(std::string_view a, std::string_view b);

// varint64 offset ‖ varint64 size: the inverse of DecodeBlockHandle.
void EncodeBlockHandle(const BlockHandle& handle, std::string* dst);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_TABLE_BUILDER_H_
