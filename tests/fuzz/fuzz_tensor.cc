// bundlefast fuzzing: one BundleEntryProto and its payload through BundleReader.
//
// Input (FuzzedDataProvider): a BundleEntryProto (the value stored under key
// "t", backslash-terminated), then the data shard; the last byte is a flags
// byte. The harness writes a well-formed
// `.index` around the entry, so every input reaches entry decoding, Locate,
// checksum verification, string decoding and the copy path. Flags: bit 0 =
// big-endian header; bit 1 = make the payload's checksums right for its dtype
// (POD: plain; string: the length checksum and the two-level entry CRC;
// variant: the running element checksums) and append that crc32c field, so
// verify=True gets through to decoding on mutated payloads.
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

void PutFixed32(char* p, uint32_t v, bool big_endian) {
  if (big_endian) {
    EncodeFixed32BigEndian(p, v);
  } else {
    EncodeFixed32(p, v);
  }
}

// The masked entry CRC a writer would store for the payload shard[offset, +size)
// (FORMAT.md 4.1-4.3), after making the payload's own inner checksums right
// (the string length checksum, each variant element's running checksum), so
// that verify=True gets past them into decoding. False if the payload cannot
// be one of its dtype (then the input keeps whatever CRC it has).
bool FixPayloadChecksums(const BundleEntry& e, bool big_endian, std::string* shard, uint32_t* masked) {
  char* const begin = &(*shard)[static_cast<size_t>(e.offset)];
  const char* const end = begin + e.size;
  if (DataTypeSize(e.dtype) != 0) {
    *masked = crc32c::Mask(crc32c::Value(begin, static_cast<size_t>(e.size)));
    return true;
  }
  const uint64_t n = NumElements(e);
  char* p = begin;
  uint32_t crc = 0;
  if (e.dtype == DT_STRING) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; ++i) {  // bounded: each length takes at least one byte
      uint64_t len;
      const char* next = GetVarint64Ptr(p, end, &len);
      if (!next || !CheckedAdd(total, len, &total)) return false;
      p = const_cast<char*>(next);
      char fixed[8];
      const size_t width = len <= 0xFFFFFFFFu ? 4 : 8;
      if (width == 4) {
        PutFixed32(fixed, static_cast<uint32_t>(len), big_endian);
      } else if (big_endian) {
        EncodeFixed64BigEndian(fixed, len);
      } else {
        EncodeFixed64(fixed, len);
      }
      crc = crc32c::Extend(crc, fixed, width);
    }
    if (end - p < 4 || total > static_cast<uint64_t>(end - p - 4)) return false;
    PutFixed32(p, crc32c::Mask(crc), big_endian);  // the stored length checksum
    crc = crc32c::Extend(crc, p, 4 + static_cast<size_t>(total));
    *masked = crc32c::Mask(crc);
    return true;
  }
  if (e.dtype != DT_VARIANT) return false;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t len;
    const char* next = GetVarint64Ptr(p, end, &len);
    if (!next || len > static_cast<uint64_t>(end - next) || end - next - len < 4) return false;
    p = const_cast<char*>(next);
    char fixed[8];
    EncodeFixed64(fixed, len);  // always 8-byte little-endian
    crc = crc32c::Extend(crc, fixed, 8);
    crc = crc32c::Extend(crc, p, static_cast<size_t>(len));
    p += len;
    EncodeFixed32(p, crc32c::Mask(crc));  // this element's checksum, then folded in
    crc = crc32c::Extend(crc, p, 4);
    p += 4;
  }
  *masked = crc32c::Mask(crc);
  return true;
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
  std::string shard = in.ConsumeRemainingBytesAsString();
  uint32_t masked = 0;
  BundleEntry e;
  if ((flags & 2) && DecodeBundleEntry(entry, 1, &e).ok() && e.offset >= 0 && e.size >= 0 &&
      RangeInside(static_cast<uint64_t>(e.offset), static_cast<uint64_t>(e.size), shard.size()) &&
      FixPayloadChecksums(e, flags & 1, &shard, &masked)) {
    // The CRC a writer would store, as field 6 appended: proto3 keeps the last value.
    char crc[5] = {0x35};
    EncodeFixed32(crc + 1, masked);
    entry.append(crc, 5);
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
