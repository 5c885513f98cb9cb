// bundlefast: decoding of one SSTable block (the format leveldb's BlockBuilder writes).
#ifndef BUNDLEFAST_CSRC_BLOCK_H_
#define BUNDLEFAST_CSRC_BLOCK_H_

#include <string>
#include <string_view>

#include "status.h"

namespace bundlefast {

// Receives each entry of a block in order. `key` is valid only during the
// call; `value` points into the block. A non-OK return stops the walk.
class BlockVisitor {
 public:
  virtual ~BlockVisitor() = default;
  virtual Status Visit(std::string_view key, std::string_view value) = 0;
};

// Walks every entry of `block` (uncompressed contents, trailer removed),
// validating the layout as it goes: the restart array fits the block, every
// entry lies before the restart array, shared prefixes are no longer than the
// previous key, and the restart array points exactly at the entries that
// restart prefix compression. `where` names the block in error messages
// (e.g. "m.index: data block at offset 0"). Malformed input gives kCorruption.
Status ForEachBlockEntry(std::string_view block, const std::string& where, BlockVisitor* visitor);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BLOCK_H_
