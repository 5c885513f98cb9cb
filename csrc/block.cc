// bundlefast: SSTable block decoding.
//
// Block layout (leveldb table/block_builder.cc, FORMAT.md 2.4):
//   entry*                      shared:varint32 non_shared:varint32 value_len:varint32
//                               key_delta[non_shared] value[value_len]
//   restart[R]                  fixed32 offsets of entries with shared == 0
//   R                           fixed32
// A key is previous_key[0, shared) + key_delta. We read blocks front to back
// once (the reader loads the whole index at open), so instead of binary
// searching the restart array we check that it agrees with the entries: a
// lookup-based reader such as TensorFlow's would trust exactly those offsets.
#include "block.h"

#include <cstdint>

#include "coding.h"

namespace bundlefast {

namespace {
Status BadBlock(const std::string& where, const std::string& what, uint64_t offset) {
  return Status::Corruption(where + ": " + what + " (block offset " + std::to_string(offset) + ")");
}
}  // namespace

Status ForEachBlockEntry(std::string_view block, const std::string& where, BlockVisitor* visitor) {
  const uint64_t size = block.size();
  if (size < 4) return BadBlock(where, "bad block contents: shorter than its restart count", 0);
  const uint32_t num_restarts = DecodeFixed32(block.data() + size - 4);
  if (num_restarts > (size - 4) / 4) {
    return BadBlock(where,
                    "bad block contents: " + std::to_string(num_restarts) +
                        " restart points do not fit in " + std::to_string(size) + " bytes",
                    size - 4);
  }
  // TensorFlow treats R = 0 as an empty block; so do we, if nothing precedes it.
  const uint64_t restarts_begin = size - 4 - 4ull * num_restarts;
  if (num_restarts == 0) {
    if (restarts_begin != 0) return BadBlock(where, "bad block contents: entries but no restart points", 0);
    return Status::OK();
  }

  const char* const base = block.data();
  const char* p = base;
  const char* const limit = base + restarts_begin;
  std::string key;
  uint32_t next_restart = 0;  // index into the restart array
  // Keys share prefixes only within a run that starts at a restart point, and
  // TF (like leveldb) restarts every 16 entries, so no key is longer than the
  // bytes stored since its run began: the keys of a TF block add up to at most
  // 16 times its size. A block with few restarts could otherwise expand a
  // short prefix into gigabytes of keys (every key is kept) from a few KB.
  const uint64_t max_key_bytes = 16 * size;
  uint64_t key_bytes = 0;
  while (p < limit) {
    const uint64_t entry_offset = static_cast<uint64_t>(p - base);
    uint32_t shared, non_shared, value_len;
    const char* q = GetVarint32Ptr(p, limit, &shared);
    if (q) q = GetVarint32Ptr(q, limit, &non_shared);
    if (q) q = GetVarint32Ptr(q, limit, &value_len);
    if (!q) return BadBlock(where, "bad entry in block: truncated entry header", entry_offset);
    const uint64_t avail = static_cast<uint64_t>(limit - q);
    if (static_cast<uint64_t>(non_shared) > avail || static_cast<uint64_t>(value_len) > avail - non_shared) {
      return BadBlock(where,
                      "bad entry in block: key of " + std::to_string(non_shared) + " and value of " +
                          std::to_string(value_len) + " bytes run past the restart array",
                      entry_offset);
    }
    if (shared > key.size()) {
      return BadBlock(where,
                      "bad entry in block: shares " + std::to_string(shared) + " bytes with a previous key of " +
                          std::to_string(key.size()),
                      entry_offset);
    }
    // Restart bookkeeping: the next restart offset must be this entry or later.
    const bool is_restart =
        next_restart < num_restarts &&
        DecodeFixed32(base + restarts_begin + 4ull * next_restart) == entry_offset;
    if (is_restart) {
      if (shared != 0) return BadBlock(where, "bad entry in block: restart entry with shared prefix", entry_offset);
      ++next_restart;
    } else if (entry_offset == 0) {
      return BadBlock(where, "bad block contents: restart[0] is not 0", restarts_begin);
    }
    key_bytes += static_cast<uint64_t>(shared) + non_shared;
    if (key_bytes > max_key_bytes) {
      return BadBlock(where,
                      "bad block contents: its keys expand to more than " + std::to_string(max_key_bytes) +
                          " bytes, 16 times the block's size (too few restart points)",
                      entry_offset);
    }
    key.resize(shared);
    key.append(q, non_shared);
    q += non_shared;
    BF_RETURN_IF_ERROR(visitor->Visit(key, std::string_view(q, value_len)));
    p = q + value_len;
  }
  // leveldb's BlockBuilder writes a block without entries (an empty metaindex
  // block, say) as one restart point at offset 0: valid, and empty.
  const bool empty_block = restarts_begin == 0 && num_restarts == 1 && DecodeFixed32(base) == 0;
  if (next_restart != num_restarts && !empty_block) {
    return BadBlock(where,
                    "bad block contents: restart point " + std::to_string(next_restart) +
                        " does not start an entry",
                    restarts_begin + 4ull * next_restart);
  }
  return Status::OK();
}

}  // namespace bundlefast
