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
#include "read_plan.h"
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
    std::unique_ptr<ReadPlan> plan;
    if (ReadPlan::Make(reader, {ReadRequest{i, false, {}}}, ReadOptions{true, false, false, 2}, &plan).ok()) {
      (void)plan->Prepare();
    }
  }
}

}  // namespace fuzz
}  // namespace bundlefast

#endif  // BUNDLEFAST_TESTS_FUZZ_FUZZ_COMMON_H_
