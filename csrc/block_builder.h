// bundlefast: encoding of one SSTable block, the layout block.cc decodes.
#ifndef BUNDLEFAST_CSRC_BLOCK_BUILDER_H_
#define BUNDLEFAST_CSRC_BLOCK_BUILDER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bundlefast {

// Builds a block: prefix-compressed entries, then the restart array and its
// count (FORMAT.md 2.4). A restart (an entry stored with its full key) begins
// every `restart_interval` entries: 16 for data blocks, 1 for the index block,
// as TensorFlow's table builder does. Not thread-safe.
class BlockBuilder {
 public:
  // REQUIRES: restart_interval >= 1.
  explicit BlockBuilder(int restart_interval);

  // Appends an entry whose key has its first `shared` bytes in common with
  // the previous entry's (the caller knows: it compared them to check the
  // order, so the block keeps no copy of the last key); ignored where the
  // entry starts the block or a restart. REQUIRES: Finish() not called since
  // the last Reset(); `key` is larger than every key added before (the table
  // builder checks).
  void Add(std::string_view key, std::string_view value, size_t shared);

  // Appends the restart array and returns the finished block, valid until the
  // next Reset() or the builder's destruction.
  std::string_view Finish();

  // Starts a new, empty block.
  void Reset();

  // TF's size estimate: entry bytes + the restart array as it would be now.
  // Data blocks are closed when this reaches the target block size.
  size_t CurrentSizeEstimate() const { return buffer_.size() + 4 * restarts_.size() + 4; }

  bool empty() const { return buffer_.empty(); }

 private:
  const int restart_interval_;
  std::string buffer_;
  std::vector<uint32_t> restarts_;
  int counter_ = 0;  // entries since the last restart
};

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BLOCK_BUILDER_H_
