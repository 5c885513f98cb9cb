// bundlefast fuzzing: what the libFuzzer targets share.
//
// Each target turns its input into real files (a bundle on disk, in a private
// directory under $TMPDIR) and drives the same calls the Python bindings make:
// BundleReader::Open, then ReadPlan over every entry (whole and regions,
// verified or not, copied or viewed), with mapped and pread sources. The only acceptable outcomes are OK and a
// non-OK Status; a crash, a sanitizer report or a hang is a bug.
#ifndef BUNDLEFAST_TESTS_FUZZ_FUZZ_COMMON_H_
#define BUNDLEFAST_TESTS_FUZZ_FUZZ_COMMON_H_

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bundle_reader.h"
#include "coding.h"
#include "crc32c.h"
#include "dtype.h"
#include "read_plan.h"
#include "slices.h"
#include "block.h"
#include "table.h"

namespace bundlefast {
namespace fuzz {

// A per-process directory, so `-fork`/`-jobs` workers never share files.
inline const std::string& WorkDir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string d = std::string(tmp && *tmp ? tmp : "/tmp") + "/bundlefast-fuzz-" + std::to_string(::getpid());
    (void)std::system(("mkdir -p '" + d + "'").c_str());
    return d;
  }();
  return dir;
}

inline void WriteFile(const std::string& path, const char* data, size_t n) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();  // the harness's own failure, not the reader's
  if (n && std::fwrite(data, 1, n, f) != n) std::abort();
  std::fclose(f);
}

// --- Fixing up a mutated .index so that mutations reach the parsers ----------
//
// libFuzzer mutates blindly: an inserted or deleted byte inside a block shifts
// every later block, so the footer's handles, the index block's handles and
// every trailer CRC go stale and the reader stops at "bad magic" or "block
// checksum mismatch". FixUpIndex undoes that bookkeeping (one mutated block per
// input, as one insert/delete/flip makes) and leaves the mutated bytes alone.

inline bool TrailerMatches(const std::string& file, uint64_t offset, uint64_t size) {
  if (size > file.size() || !RangeInside(offset, size + kBlockTrailerSize, file.size())) return false;
  const char* d = file.data() + offset;
  return DecodeFixed32(d + size + 1) == crc32c::Mask(crc32c::Value(d, size + 1));
}

inline void FixTrailer(std::string* file, uint64_t offset, uint64_t size) {
  if (size > file->size() || !RangeInside(offset, size + kBlockTrailerSize, file->size())) return;
  char* d = &(*file)[offset];
  EncodeFixed32(d + size + 1, crc32c::Mask(crc32c::Value(d, size + 1)));
}

inline std::string EncodeHandle(const BlockHandle& h) {
  std::string s;
  PutVarint64(&s, h.offset);
  PutVarint64(&s, h.size);
  return s;
}

// An uncompressed block holding `entries` with a restart at every entry (the
// index block's layout in TF's tables), without its trailer.
inline std::string EncodeBlock(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string block;
  std::vector<uint32_t> restarts;
  for (const auto& [key, value] : entries) {
    restarts.push_back(static_cast<uint32_t>(block.size()));
    PutVarint64(&block, 0);
    PutVarint64(&block, key.size());
    PutVarint64(&block, value.size());
    block += key;
    block += value;
  }
  if (restarts.empty()) restarts.push_back(0);
  char fixed[4];
  for (uint32_t r : restarts) {
    EncodeFixed32(fixed, r);
    block.append(fixed, 4);
  }
  EncodeFixed32(fixed, static_cast<uint32_t>(restarts.size()));
  block.append(fixed, 4);
  return block;
}

// The (key, handle) entries of the index block at `h` (Snappy blocks decompressed).
inline bool IndexEntries(const std::string& file, const BlockHandle& h,
                         std::vector<std::pair<std::string, BlockHandle>>* out) {
  struct Collect : BlockVisitor {
    std::vector<std::pair<std::string, BlockHandle>>* out;
    bool ok = true;
    Status Visit(std::string_view key, std::string_view value) override {
      BlockHandle bh;
      if (!DecodeBlockHandle(value.data(), value.data() + value.size(), &bh)) ok = false;
      out->emplace_back(std::string(key), bh);
      return Status::OK();
    }
  } collect;
  collect.out = out;
  std::string scratch;
  std::string_view contents;
  if (!ReadBlock(file, h, "fuzz", &scratch, &contents).ok()) return false;
  return ForEachBlockEntry(contents, "fuzz", &collect).ok() && collect.ok;
}

// Recomputes the trailer CRC of the index block named by the footer and of
// every data block it names, so a flipped byte reaches the block and entry
// parsers instead of stopping at "block checksum mismatch".
inline void FixBlockTrailers(std::string* file) {
  if (file->size() < kFooterSize) return;
  const char* footer = file->data() + file->size() - kFooterSize;
  BlockHandle metaindex, index;
  const char* p = DecodeBlockHandle(footer, footer + 40, &metaindex);
  if (!p || !DecodeBlockHandle(p, footer + 40, &index)) return;
  FixTrailer(file, metaindex.offset, metaindex.size);
  FixTrailer(file, index.offset, index.size);
  std::vector<std::pair<std::string, BlockHandle>> entries;
  (void)IndexEntries(*file, index, &entries);
  for (const auto& e : entries) FixTrailer(file, e.second.offset, e.second.size);
}

// Re-lays the handles after an insertion or deletion: blocks are contiguous in
// a TF table (data blocks in index order, the metaindex block, the index block,
// then the footer), so the block whose trailer no longer matches at its
// (shifted) place is the mutated one and absorbs the size change. Then the
// index block's handles and the footer are rewritten and every trailer fixed.
inline void FixUpIndex(std::string* file) {
  const size_t n = file->size();
  if (n < kFooterSize || DecodeFixed64(file->data() + n - 8) != kTableMagicNumber) return FixBlockTrailers(file);
  const uint64_t footer_at = n - kFooterSize;
  const char* footer = file->data() + footer_at;
  BlockHandle meta, index;
  const char* p = DecodeBlockHandle(footer, footer + 40, &meta);
  if (!p || !DecodeBlockHandle(p, footer + 40, &index) || footer_at < kBlockTrailerSize) return FixBlockTrailers(file);
  const uint64_t blocks_end = footer_at - kBlockTrailerSize;  // where the index block's trailer starts
  std::string handles;
  char magic[8];
  EncodeFixed64(magic, kTableMagicNumber);
  // The index block is last: unchanged but shifted, or itself mutated.
  if (index.size <= blocks_end && TrailerMatches(*file, blocks_end - index.size, index.size)) {
    index.offset = blocks_end - index.size;
  } else if (index.offset <= blocks_end) {
    // The index block was mutated: the blocks before it did not move, only its
    // size changed (and its handles are whatever the mutation made them).
    index.size = blocks_end - index.offset;
    handles = EncodeHandle(meta) + EncodeHandle(index);
    handles.resize(40, '\0');
    file->replace(footer_at, 40, handles);
    file->replace(footer_at + 40, 8, magic, 8);
    return FixBlockTrailers(file);
  } else {
    return FixBlockTrailers(file);
  }
  std::vector<std::pair<std::string, BlockHandle>> entries;
  if (!IndexEntries(*file, index, &entries)) return FixBlockTrailers(file);
  std::vector<BlockHandle*> order;
  for (auto& e : entries) order.push_back(&e.second);
  order.push_back(&meta);
  // The bytes before the index block, against what the handles' sizes add up to.
  uint64_t expected = 0;
  for (const BlockHandle* h : order) {
    if (h->size > n || !CheckedAdd(expected, h->size + kBlockTrailerSize, &expected)) return FixBlockTrailers(file);
  }
  int64_t delta = static_cast<int64_t>(index.offset) - static_cast<int64_t>(expected);
  uint64_t cursor = 0;
  bool moved = false;
  for (BlockHandle* h : order) {
    if (delta != 0 && !TrailerMatches(*file, cursor, h->size)) {
      if (delta < 0 && static_cast<uint64_t>(-delta) > h->size) return FixBlockTrailers(file);
      h->size = static_cast<uint64_t>(static_cast<int64_t>(h->size) + delta);
      delta = 0;
      moved = true;
    }
    moved = moved || h->offset != cursor;
    h->offset = cursor;
    cursor += h->size + kBlockTrailerSize;
  }
  std::string out = file->substr(0, index.offset);
  if (!moved) {  // the index block's handles hold: keep its bytes
    out.append(*file, index.offset, index.size + kBlockTrailerSize);
  } else {
    std::vector<std::pair<std::string, std::string>> rewritten;
    for (const auto& e : entries) rewritten.emplace_back(e.first, EncodeHandle(e.second));
    const std::string block = EncodeBlock(rewritten);
    index.size = block.size();
    out += block;
    out.append(kBlockTrailerSize, '\0');  // type 0 (uncompressed); CRC below
  }
  handles = EncodeHandle(meta) + EncodeHandle(index);
  handles.resize(40, '\0');
  out += handles;
  out.append(magic, 8);
  *file = std::move(out);
  FixBlockTrailers(file);
}

// Where the .index ends in a fuzz_bundle input: just after the first table
// magic number past the 4-byte length (an insertion or deletion inside the
// index moves it), else the length the input states.
inline size_t IndexLength(const char* in, size_t size) {
  uint64_t stated = DecodeFixed32(in);
  if (stated > size - 4) stated = size - 4;
  char magic[8];
  EncodeFixed64(magic, kTableMagicNumber);
  const std::string_view body(in + 4, size - 4);
  const size_t at = body.find(std::string_view(magic, 8), kFooterSize - 8);
  return at == std::string_view::npos ? static_cast<size_t>(stated) : at + 8;
}

// One read through ReadPlan, as the bindings do it: plan, prepare, give every
// filled result its own buffer, fill; then every string element is copied.
// Any failure must be a Status; the buffers are bounded because the plan
// checked that real bytes back every element.
inline void ExerciseRead(BundleReader* reader, const ReadRequest& request, bool verify, bool copy) {
  std::unique_ptr<ReadPlan> plan;
  if (!ReadPlan::Make(reader, {request}, ReadOptions{verify, copy, true, 2}, &plan).ok()) return;
  (void)plan->Fetches();
  if (!plan->Prepare().ok()) return;
  if (plan->elementwise(0)) {
    std::vector<char> element;
    for (uint64_t j = 0; j < plan->num_elements(0); ++j) {
      element.resize(static_cast<size_t>(plan->element(0, j).size));
      if (!plan->CopyElement(0, j, element.data()).ok()) std::abort();  // files do not shrink here
    }
    return;
  }
  std::vector<char> out(plan->view(0) ? 0 : static_cast<size_t>(plan->ResultBytes(0)));
  if (!plan->Fill({out.data()}).ok() && !verify) std::abort();  // only a CRC can fail here
}

// Everything the bindings do with an opened reader, minus Python: whole
// tensors and regions (the "middle third" of an ordinary tensor, the whole of
// a partitioned one), verified or not, copied or viewed; and Reader.verify.
inline void ExerciseReader(BundleReader* reader) {
  (void)reader->needs_byte_swap();
  for (size_t v : reader->visible()) {
    if (v >= reader->size() || reader->hidden(v)) std::abort();
  }
  for (size_t i = 0; i < reader->size(); ++i) {
    const BundleEntry* e = nullptr;
    if (reader->Find(reader->key(i)) != static_cast<int64_t>(i)) std::abort();  // keys are sorted and unique
    (void)reader->Where(i);
    if (!reader->entry(i, &e).ok()) continue;
    (void)reader->DataPath(e->shard_id);
    ReadRequest region{i, true, FullBox(e->shape)};
    for (size_t d = 0; e->slices.empty() && d < region.region.rank(); ++d) {
      region.region.start[d] = region.region.size[d] / 3;
      region.region.size[d] -= region.region.start[d];
    }
    for (const bool verify : {false, true}) {
      for (const bool copy : {false, true}) {
        ExerciseRead(reader, ReadRequest{i, false, {}}, verify, copy);
        ExerciseRead(reader, region, verify, copy);
      }
    }
    (void)VerifyTensors(reader, {i}, 2);  // Reader.verify
    std::vector<char> into(static_cast<size_t>(std::min<int64_t>(e->size, int64_t{1} << 20)));
    (void)ReadTensorInto(reader, i, into.data(), into.size(), true, 2);  // Reader.read_into
  }
  // Reader.load: every listed tensor in one plan (entry positions, no requests).
  std::unique_ptr<ReadPlan> plan;
  if (ReadPlan::Make(reader, reader->visible(), ReadOptions{true, true, true, 2}, &plan).ok()) {
    (void)plan->Fetches();
    if (plan->Prepare().ok()) {
      std::vector<std::vector<char>> out(plan->size());
      std::vector<char*> dst(plan->size());
      for (size_t k = 0; k < plan->size(); ++k) {
        if (plan->elementwise(k)) continue;
        out[k].resize(static_cast<size_t>(plan->ResultBytes(k)));
        dst[k] = out[k].data();
      }
      (void)plan->Fill(dst);
    }
  }
}

}  // namespace fuzz
}  // namespace bundlefast

#endif  // BUNDLEFAST_TESTS_FUZZ_FUZZ_COMMON_H_
