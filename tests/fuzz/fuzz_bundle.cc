// bundlefast fuzzing: a whole bundle (index + one data shard) through BundleReader.
//
// Input: fixed32 LE index length L, then L bytes of `.index`, then the data
// shard. The index ends at its magic number (L is only a fallback), and its
// footer, block handles and trailer CRCs are fixed up after a mutation (see
// FixUpIndex), so mutations reach the block, entry and payload parsers.
// Seeds: tests/fuzz/make_seeds.py (TF-written bundles from tests/data plus
// builder-made Snappy, big-endian and multi-block ones).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bundlefast;
  if (size < 4) return 0;
  const char* in = reinterpret_cast<const char*>(data);
  const size_t index_len = fuzz::IndexLength(in, size);
  std::string index(in + 4, index_len);
  fuzz::FixUpIndex(&index);
  const std::string prefix = fuzz::WorkDir() + "/b";
  fuzz::WriteFile(prefix + ".index", index.data(), index.size());

  std::unique_ptr<BundleReader> reader;
  if (!BundleReader::Open(prefix, &reader).ok()) return 0;
  // Shards are mapped lazily, so the data files can be named after the header.
  const int32_t shards = reader->header().num_shards < 3 ? reader->header().num_shards : 3;
  const char* shard_data = in + 4 + index_len;
  const size_t shard_size = size - 4 - static_cast<size_t>(index_len);
  std::vector<std::string> paths;
  for (int32_t s = 0; s < shards; ++s) {
    paths.push_back(reader->DataPath(s));
    fuzz::WriteFile(paths.back(), shard_data, shard_size);
  }
  fuzz::ExerciseReader(reader.get());
  reader.reset();
  if (BundleReader::Open(prefix, OpenFileSource, &reader).ok()) fuzz::ExerciseReader(reader.get());  // pread
  reader.reset();
  for (const std::string& p : paths) std::remove(p.c_str());
  return 0;
}
