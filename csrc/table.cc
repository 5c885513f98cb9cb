// bundlefast: reading the SSTable of a `.index` file.
//
// File layout (leveldb doc/table_format.md, FORMAT.md 2.1-2.3):
//   [data block][trailer] ... [metaindex block][trailer] [index block][trailer] [footer]
//   trailer = type:uint8 (0 none, 1 Snappy) ‖ fixed32 Mask(crc32c(block ‖ type))
//   footer  = metaindex handle ‖ index handle ‖ zero padding to 40 bytes ‖ fixed64 magic
// TensorFlow never reads the metaindex block, and neither do we. The index
// block maps a separator key to each data block's handle; separators are not
// real keys, so we only use the handles and walk the data blocks in order.
#include "table.h"

#include <cstdio>
#include <vector>

#include "coding.h"
#include "crc32c.h"
#include "snappy.h"

namespace bundlefast {

namespace {
std::string HandleText(const BlockHandle& h) {
  return "offset " + std::to_string(h.offset) + ", " + std::to_string(h.size) + " bytes";
}

// Checks the order of keys across blocks and forwards them.
class OrderCheckingVisitor : public BlockVisitor {
 public:
  OrderCheckingVisitor(BlockVisitor* next, const std::string* where) : next_(next), where_(where) {}
  Status Visit(std::string_view key, std::string_view value) override {
    if (count_ > 0 && !(std::string_view(last_) < key)) {
      return Status::Corruption(*where_ + ": keys out of order: '" + std::string(key) +
                                "' follows '" + last_ + "' (keys must be unique and sorted)");
    }
    last_.assign(key.data(), key.size());
    ++count_;
    return next_->Visit(key, value);
  }

 private:
  BlockVisitor* next_;
  const std::string* where_;
  std::string last_;
  uint64_t count_ = 0;
};

// Collects the handles stored in the index block.
class IndexBlockVisitor : public BlockVisitor {
 public:
  explicit IndexBlockVisitor(const std::string* where) : where_(where) {}
  Status Visit(std::string_view key, std::string_view value) override {
    BlockHandle h;
    // TF tolerates trailing bytes after the handle; so do we.
    if (!DecodeBlockHandle(value.data(), value.data() + value.size(), &h)) {
      return Status::Corruption(*where_ + ": bad block handle in index block (entry " +
                                std::to_string(handles.size()) + ", key length " +
                                std::to_string(key.size()) + ")");
    }
    handles.push_back(h);
    return Status::OK();
  }
  std::vector<BlockHandle> handles;

 private:
  const std::string* where_;
};
}  // namespace

const char* DecodeBlockHandle(const char* p, const char* limit, BlockHandle* handle) {
  p = GetVarint64Ptr(p, limit, &handle->offset);
  if (p) p = GetVarint64Ptr(p, limit, &handle->size);
  return p;
}

Status ReadBlock(std::string_view file, const BlockHandle& handle, const std::string& where,
                 std::string* scratch, std::string_view* contents) {
  if (handle.size > file.size() || !RangeInside(handle.offset, handle.size + kBlockTrailerSize, file.size())) {
    return Status::Corruption(where + ": truncated block read (" + HandleText(handle) +
                              " plus trailer, file is " + std::to_string(file.size()) + " bytes)");
  }
  const char* data = file.data() + handle.offset;
  const size_t n = static_cast<size_t>(handle.size);
  const auto type = static_cast<unsigned char>(data[n]);
  const uint32_t stored = crc32c::Unmask(DecodeFixed32(data + n + 1));
  const uint32_t actual = crc32c::Value(data, n + 1);  // block bytes + type byte
  if (stored != actual) {
    return Status::ChecksumMismatch(where + ": block checksum mismatch (" + HandleText(handle) +
                                    "): stored " + Hex32(stored) + ", computed " + Hex32(actual));
  }
  switch (type) {
    case 0:
      *contents = std::string_view(data, n);
      return Status::OK();
    case 1:
      BF_RETURN_IF_ERROR(SnappyUncompress(std::string_view(data, n), scratch)
                             .WithContext(where + ": corrupted compressed block contents (" +
                                          HandleText(handle) + ")"));
      *contents = *scratch;
      return Status::OK();
    default:
      return Status::Corruption(where + ": bad block type " + std::to_string(type) + " (" +
                                HandleText(handle) + "), expected 0 (none) or 1 (Snappy)");
  }
}

Status ForEachTableEntry(std::string_view file, const std::string& path, BlockVisitor* visitor) {
  if (file.size() < kFooterSize) {
    return Status::Corruption(path + ": file is too short to be an sstable (" + std::to_string(file.size()) +
                              " bytes, the footer alone is 48)");
  }
  const char* footer = file.data() + file.size() - kFooterSize;
  const uint64_t magic = DecodeFixed64(footer + kFooterSize - 8);
  if (magic != kTableMagicNumber) {
    char buf[19];
    std::snprintf(buf, sizeof(buf), "0x%016llx", static_cast<unsigned long long>(magic));
    return Status::Corruption(path + ": not an sstable (bad magic number " + buf +
                              " at offset " + std::to_string(file.size() - 8) + ", expected 0xdb4775248b80fb57)");
  }
  BlockHandle metaindex, index;
  const char* p = DecodeBlockHandle(footer, footer + 40, &metaindex);
  if (p) p = DecodeBlockHandle(p, footer + 40, &index);
  if (!p) {
    return Status::Corruption(path + ": bad block handle in footer (offset " +
                              std::to_string(file.size() - kFooterSize) + ")");
  }

  std::string scratch;
  std::string_view contents;
  const std::string index_where = path + ": index block";
  BF_RETURN_IF_ERROR(ReadBlock(file, index, index_where, &scratch, &contents));
  IndexBlockVisitor handles(&index_where);
  BF_RETURN_IF_ERROR(ForEachBlockEntry(contents, index_where, &handles));

  OrderCheckingVisitor ordered(visitor, &path);
  // TF writes data blocks back to back in index order. Requiring that order
  // (no block starting before the previous one's trailer ends) keeps the work
  // linear in the file size: otherwise a small index could name one huge
  // region many times over (overlapping blocks, each with a valid trailer) and
  // make us checksum it again and again.
  uint64_t data_end = 0;
  for (const BlockHandle& h : handles.handles) {
    const std::string where = path + ": data block at offset " + std::to_string(h.offset);
    if (h.offset < data_end) {
      return Status::Corruption(where + ": bad block handle in index block: the block starts before the previous "
                                "data block ends (offset " + std::to_string(data_end) +
                                "); data blocks must follow each other in file order");
    }
    BF_RETURN_IF_ERROR(ReadBlock(file, h, where, &scratch, &contents));
    data_end = h.offset + h.size + kBlockTrailerSize;  // inside the file: ReadBlock checked
    BF_RETURN_IF_ERROR(ForEachBlockEntry(contents, where, &ordered));
  }
  return Status::OK();
}

TableKind SniffTable(std::string_view head, std::string_view tail, uint64_t file_size) {
  if (file_size < kFooterSize || tail.size() != 8 || DecodeFixed64(tail.data()) != kTableMagicNumber) {
    return TableKind::kNotTable;
  }
  // The first entry of the first block: shared = 0, non_shared = 0 (key ""),
  // value length, value. V1 stores SavedTensorSlices{meta (field 1, bytes)},
  // V2 BundleHeaderProto{num_shards (field 1, varint)}.
  const char* p = head.data();
  const char* limit = head.data() + head.size();
  uint64_t shared, non_shared, value_size;
  p = GetVarint64Ptr(p, limit, &shared);
  if (p) p = GetVarint64Ptr(p, limit, &non_shared);
  if (p) p = GetVarint64Ptr(p, limit, &value_size);
  if (!p || shared != 0 || non_shared != 0 || p >= limit) return TableKind::kOtherTable;
  if (*p == '\x0a') return TableKind::kV1Checkpoint;
  if (*p == '\x08') return TableKind::kV2Index;
  return TableKind::kOtherTable;
}

}  // namespace bundlefast
