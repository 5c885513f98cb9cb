// bundlefast fuzzing: what the libFuzzer targets share.
//
// Each target turns its input into real files (a bundle on disk, in a private
// directory under $TMPDIR) and drives the same BundleReader calls the Python
// bindings make: Open, every entry, Locate, checksum verification, string
// decoding and the copy path. The only acceptable outcomes are OK and a
// non-OK Status; a crash, a sanitizer report or a hang is a bug.
#ifndef BUNDLEFAST_TESTS_FUZZ_FUZZ_COMMON_H_
#define BUNDLEFAST_TESTS_FUZZ_FUZZ_COMMON_H_

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bundle_reader.h"
#include "coding.h"
#include "crc32c.h"
#include "dtype.h"
#include "payload.h"
#include "slices.h"
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

// Recomputes the trailer CRC of every block the reader would read (the index
// block named by the footer, then every data block it names), so mutations
// reach the block and entry parsers instead of stopping at "block checksum
// mismatch". Anything that does not decode is left as it is.
inline void FixBlockTrailers(std::string* file) {
  if (file->size() < kFooterSize) return;
  const char* footer = file->data() + file->size() - kFooterSize;
  BlockHandle metaindex, index;
  const char* p = DecodeBlockHandle(footer, footer + 40, &metaindex);
  if (!p || !DecodeBlockHandle(p, footer + 40, &index)) return;
  auto fix = [file](const BlockHandle& h) {
    if (h.size > file->size() || !RangeInside(h.offset, h.size + kBlockTrailerSize, file->size())) return false;
    char* d = &(*file)[h.offset];
    EncodeFixed32(d + h.size + 1, crc32c::Mask(crc32c::Value(d, h.size + 1)));
    return true;
  };
  if (!fix(index)) return;
  struct Handles : BlockVisitor {
    std::vector<BlockHandle> all;
    Status Visit(std::string_view, std::string_view value) override {
      BlockHandle h;
      if (DecodeBlockHandle(value.data(), value.data() + value.size(), &h)) all.push_back(h);
      return Status::OK();
    }
  } handles;
  std::string scratch;
  std::string_view contents;
  if (!ReadBlock(*file, index, "fuzz", &scratch, &contents).ok()) return;
  (void)ForEachBlockEntry(contents, "fuzz", &handles);
  for (const BlockHandle& h : handles.all) fix(h);
}

// Partitioned tensors and regions, as read_region / get_array assemble them:
// plan the pieces, verify them, then copy (fixed-width) or decode (strings,
// variants) each one's part.
inline void ExerciseRegion(BundleReader* reader, size_t i, const BundleEntry& e) {
  Box request = FullBox(e.shape);
  if (e.slices.empty()) {  // an ordinary tensor: ask for its "middle third"
    for (size_t d = 0; d < request.rank(); ++d) {
      request.start[d] = request.size[d] / 3;
      request.size[d] -= request.start[d];
    }
  }
  std::vector<BundleReader::Piece> pieces;
  if (!reader->PlanRegion(i, request, &pieces).ok()) return;
  std::vector<size_t> indices;
  std::vector<BundleReader::Payload> payloads;
  for (const BundleReader::Piece& p : pieces) {
    indices.push_back(p.index);
    payloads.push_back(p.payload);
  }
  if (!reader->VerifyPayloads(indices, payloads, 2).ok()) return;
  const int itemsize = DataTypeSize(e.dtype);
  if (itemsize == 0) {
    std::vector<StringRef> refs;
    for (const BundleReader::Piece& p : pieces) (void)reader->DecodeElements(p.index, p.payload, true, &refs);
    return;
  }
  // Bounded: the pieces cover the request exactly and each lies in its file.
  std::vector<char> out(static_cast<size_t>(request.NumElements() * static_cast<uint64_t>(itemsize)));
  for (const BundleReader::Piece& p : pieces) {
    if (!CopyRegion(out.data(), request, p.payload.data, p.stored, p.overlap, itemsize, 1)) std::abort();
  }
}

// Everything the bindings do with an opened reader, minus Python.
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
    ExerciseRegion(reader, i, *e);
    BundleReader::Payload payload;
    if (!reader->Locate(i, &payload).ok()) continue;
    const std::vector<size_t> idx{i};
    const std::vector<BundleReader::Payload> payloads{payload};
    (void)reader->VerifyPayloads(idx, payloads, 2);
    if (DataTypeSize(payload.entry->dtype) == 0) {  // STRING, VARIANT
      std::vector<StringRef> refs;
      for (bool verify : {false, true}) {
        if (!reader->DecodeElements(i, payload, verify, &refs).ok()) continue;
        // What ObjectArray does: every element must lie inside the payload.
        if (refs.size() != payload.num_elements) std::abort();
        uint64_t sum = 0;
        for (const StringRef& r : refs) {
          if (!RangeInside(r.offset, r.length, static_cast<uint64_t>(payload.entry->size))) std::abort();
          sum += static_cast<uint8_t>(r.length ? payload.data[r.offset + r.length - 1] : 0);
        }
        (void)sum;
      }
    } else {
      // copy=True / big-endian path: the allocation is bounded by the file.
      std::vector<char> out(static_cast<size_t>(payload.entry->size));
      const int unit = reader->needs_byte_swap() ? DataTypeSwapUnit(payload.entry->dtype) : 1;
      if (!CopyRanges({CopyJob{out.data(), payload.data, out.size(), unit}}, 2)) std::abort();  // files do not shrink here
    }
  }
}

}  // namespace fuzz
}  // namespace bundlefast

#endif  // BUNDLEFAST_TESTS_FUZZ_FUZZ_COMMON_H_
