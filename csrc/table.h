// bundlefast: the SSTable container of the `.index` file (footer, block handles,
// block trailers, index block -> data blocks), FORMAT.md section 2.
#ifndef BUNDLEFAST_CSRC_TABLE_H_
#define BUNDLEFAST_CSRC_TABLE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "block.h"
#include "status.h"

namespace bundlefast {

constexpr uint64_t kTableMagicNumber = 0xdb4775248b80fb57ull;
constexpr size_t kFooterSize = 48;      // two padded handles + 8-byte magic
constexpr size_t kBlockTrailerSize = 5;  // type byte + masked crc32c

// Position of a block in the file; `size` excludes the 5-byte trailer.
struct BlockHandle {
  uint64_t offset = 0;
  uint64_t size = 0;
};

// Decodes varint64 offset + varint64 size; nullptr if malformed or past `limit`.
const char* DecodeBlockHandle(const char* p, const char* limit, BlockHandle* handle);

// Reads the block at `handle` in `file` (the whole file in memory): checks it
// lies inside the file, verifies the trailer's masked CRC32C (always: the index
// is small, and a silent misread is the worst outcome), and decompresses Snappy
// blocks into `scratch`. On success `*contents` views `file` or `scratch`.
Status ReadBlock(std::string_view file, const BlockHandle& handle, const std::string& where,
                 std::string* scratch, std::string_view* contents);

// Visits every key/value of the table in `file` in order: footer, index block,
// then each data block it names. Keys must be strictly increasing across the
// whole table (duplicates and disorder are corruption). `path` prefixes every
// error message.
Status ForEachTableEntry(std::string_view file, const std::string& path, BlockVisitor* visitor);

// What a file is, told from its first bytes, its last 8 and its size
// (FORMAT.md 1), without parsing it: not an SSTable; an SSTable whose first
// entry is a V1 (TensorSliceReader) header, a V2 bundle header, or anything
// else. `head` is the file's first (up to 64) bytes, `tail` its last 8.
enum class TableKind { kNotTable, kOtherTable, kV1Checkpoint, kV2Index };
TableKind SniffTable(std::string_view head, std::string_view tail, uint64_t file_size);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_TABLE_H_
