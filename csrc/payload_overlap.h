// bundlefast: finding entries whose payloads share bytes of a data file.
#ifndef BUNDLEFAST_CSRC_PAYLOAD_OVERLAP_H_
#define BUNDLEFAST_CSRC_PAYLOAD_OVERLAP_H_

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace bundlefast {

// The bytes [offset, end) of one shard that entry `index` claims.
struct PayloadRange {
  uint64_t offset;
  uint64_t end;
  size_t index;
  bool operator<(const PayloadRange& o) const { return offset < o.offset; }
};

// TF writes every payload once, back to back, so two non-empty payloads never
// share a byte; TF does not check this when reading (FORMAT.md 11), but a
// strict reader must: a small index could otherwise name one large range
// thousands of times, and reading "every tensor" (copy=True, verify=True,
// strings, partitioned tensors) would cost that many copies and checksums of
// it: memory and time the files' size does not justify.
//
// Returns pairs (a, b) of positions in `ranges` whose ranges overlap; every
// range that overlaps any other appears in at least one pair. `ranges` are
// non-empty ranges of one shard, sorted by offset. Callers pass only entries
// that are each valid on their own (size consistent with dtype and shape,
// inside the shard), so one damaged entry never takes its neighbours down
// (issue 8): only entries that are each plausible and still alias are refused.
// O(n) after the sort.
std::vector<std::pair<size_t, size_t>> FindOverlappingPayloads(const std::vector<PayloadRange>& ranges);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_PAYLOAD_OVERLAP_H_
