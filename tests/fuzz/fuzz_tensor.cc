// bundlefast fuzzing: one BundleEntryProto and its payload through BundleReader.
//
// Input (FuzzedDataProvider): a BundleEntryProto (the value stored under key
// "t", backslash-terminated), then the data shard; the last byte is a flags
// byte. The harness writes a well-formed
// `.index` around the entry, so every input reaches entry decoding, Locate,
// checksum verification, string decoding and the copy path. Flags: bit 0 =
// big-endian header; bit 1 = append a correct crc32c field for the POD payload
// (proto3 keeps the last value), so verify=True also succeeds sometimes.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "fuzz_common.h"

namespace {
using namespace bundlefast;

void PutVarint32(std::string* dst, uint32_t v) { PutVarint64(dst, v); }

// One block holding `entries` (restart interval large enough for all), with
// its 5-byte trailer appended to `file`; returns its handle.
BlockHandle AppendBlock(std::string* file, const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string block;
  std::string last;
  for (const auto& [key, value] : entries) {
    size_t shared = 0;
    while (shared < key.size() && shared < last.size() && key[shared] == last[shared]) ++shared;
    if (block.empty()) shared = 0;
    PutVarint32(&block, static_cast<uint32_t>(shared));
    PutVarint32(&block, static_cast<uint32_t>(key.size() - shared));
    PutVarint32(&block, static_cast<uint32_t>(value.size()));
    block.append(key, shared, std::string::npos);
    block += value;
    last = key;
  }
  char fixed[4];
  EncodeFixed32(fixed, 0);
  block.append(fixed, 4);
  EncodeFixed32(fixed, 1);
  block.append(fixed, 4);
  BlockHandle h{file->size(), block.size()};
  block.push_back('\0');  // type: uncompressed
  EncodeFixed32(fixed, crc32c::Mask(crc32c::Value(block.data(), block.size())));
  block.append(fixed, 4);
  *file += block;
  return h;
}

std::string EncodeHandle(const BlockHandle& h) {
  std::string s;
  PutVarint64(&s, h.offset);
  PutVarint64(&s, h.size);
  return s;
}

std::string BuildIndex(bool big_endian, const std::string& entry) {
  const std::string header = big_endian ? std::string("\x08\x01\x10\x01\x1a\x02\x08\x01", 8)
                                        : std::string("\x08\x01\x1a\x02\x08\x01", 6);
  std::string file;
  const BlockHandle data = AppendBlock(&file, {{"", header}, {"t", entry}});
  const BlockHandle meta = AppendBlock(&file, {});
  const BlockHandle index = AppendBlock(&file, {{"u", EncodeHandle(data)}});
  std::string footer = EncodeHandle(meta) + EncodeHandle(index);
  footer.resize(40, '\0');
  char magic[8];
  EncodeFixed64(magic, kTableMagicNumber);
  footer.append(magic, 8);
  return file + footer;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const uint8_t flags = in.ConsumeIntegral<uint8_t>();
  std::string entry = in.ConsumeRandomLengthString(4096);
  const std::string shard = in.ConsumeRemainingBytesAsString();
  if (flags & 2) {
    // Point a correct CRC at the start of the shard for the entry's declared
    // size, as a real writer would; DecodeBundleEntry keeps the last value.
    BundleEntry e;
    if (DecodeBundleEntry(entry, 1, &e).ok() && e.offset >= 0 && e.size >= 0 &&
        RangeInside(static_cast<uint64_t>(e.offset), static_cast<uint64_t>(e.size), shard.size())) {
      char crc[5] = {0x35};
      EncodeFixed32(crc + 1, crc32c::Mask(crc32c::Value(shard.data() + e.offset, static_cast<size_t>(e.size))));
      entry.append(crc, 5);
    }
  }
  const std::string prefix = fuzz::WorkDir() + "/t";
  const std::string index = BuildIndex(flags & 1, entry);
  fuzz::WriteFile(prefix + ".index", index.data(), index.size());
  fuzz::WriteFile(prefix + ".data-00000-of-00001", shard.data(), shard.size());
  std::unique_ptr<BundleReader> reader;
  if (!BundleReader::Open(prefix, &reader).ok()) std::abort();  // the index is well-formed by construction
  fuzz::ExerciseReader(reader.get());
  if (!BundleReader::Open(prefix, OpenFileSource, &reader).ok()) std::abort();
  fuzz::ExerciseReader(reader.get());  // the same through pread
  return 0;
}
