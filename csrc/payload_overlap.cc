// bundlefast: the overlapping-payload check (see payload_overlap.h).
//
// A sweep over the payloads in (shard, offset) order, keeping the one that
// reaches furthest: a payload that starts before that end overlaps it. Every
// payload that overlaps any other is caught this way (the earlier of two
// overlapping payloads is either caught itself or is the furthest-reaching one
// when the later is reached), so both sides of each overlap are flagged.
#include "payload_overlap.h"

#include <algorithm>
#include <cstdint>

namespace bundlefast {

namespace {
struct Range {
  int32_t shard;
  uint64_t offset;
  uint64_t end;  // offset + size; sizes are checked against the file only later, so saturate
  size_t index;
  bool operator<(const Range& o) const { return shard != o.shard ? shard < o.shard : offset < o.offset; }
};

std::string Describe(const std::vector<std::string>& keys, const Range& r) {
  return "'" + keys[r.index] + "' (shard " + std::to_string(r.shard) + ", offset " + std::to_string(r.offset) +
         ", " + std::to_string(r.end - r.offset) + " bytes)";
}
}  // namespace

void FlagOverlappingPayloads(const std::string& index_path, const std::vector<std::string>& keys,
                             const std::vector<BundleEntry>& entries, std::unordered_map<size_t, Status>* errors) {
  std::vector<Range> ranges;
  ranges.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const BundleEntry& e = entries[i];
    if (!e.slices.empty() || e.size <= 0 || e.offset < 0 || errors->count(i)) continue;
    const auto offset = static_cast<uint64_t>(e.offset);
    const auto size = static_cast<uint64_t>(e.size);
    ranges.push_back(Range{e.shard_id, offset, size > UINT64_MAX - offset ? UINT64_MAX : offset + size, i});
  }
  // Keys are usually written in payload order already (TF2 saves in sorted
  // order): then the sort is skipped.
  if (!std::is_sorted(ranges.begin(), ranges.end())) std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<size_t, size_t>> overlaps;  // positions in `ranges`
  size_t furthest = 0;
  for (size_t k = 1; k < ranges.size(); ++k) {
    const Range& f = ranges[furthest];
    if (ranges[k].shard != f.shard) {
      furthest = k;
      continue;
    }
    if (ranges[k].offset < f.end) overlaps.emplace_back(k, furthest);
    if (ranges[k].end > f.end) furthest = k;
  }
  for (const auto& [a, b] : overlaps) {
    for (const auto& [self, other] : {std::make_pair(a, b), std::make_pair(b, a)}) {
      const size_t i = ranges[self].index;
      if (errors->count(i)) continue;
      (*errors)[i] = Status::Corruption(index_path + ": entry '" + keys[i] + "': its payload " +
                                        Describe(keys, ranges[self]) + " overlaps the payload of " +
                                        Describe(keys, ranges[other]) +
                                        "; TF writes every payload once, so both entries are refused");
    }
  }
}

}  // namespace bundlefast
