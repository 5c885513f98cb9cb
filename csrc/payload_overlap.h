// bundlefast: refusing entries whose payloads share bytes of a data file.
#ifndef BUNDLEFAST_CSRC_PAYLOAD_OVERLAP_H_
#define BUNDLEFAST_CSRC_PAYLOAD_OVERLAP_H_

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "bundle_entry.h"
#include "status.h"

namespace bundlefast {

// TF writes every payload once, back to back, so two non-empty payloads never
// share a byte; TF does not check this when reading (FORMAT.md 11), but a
// strict reader must: a small index could otherwise name one large range
// thousands of times, and reading "every tensor" (copy=True, verify=True,
// strings, partitioned tensors) would cost that many copies and checksums of
// it: memory and time the files' size does not justify. Records kCorruption
// in `errors` for every entry (not already in `errors`, with a non-empty
// payload) that overlaps another, naming both; O(n log n) in the entries.
void FlagOverlappingPayloads(const std::string& index_path, const std::vector<std::string>& keys,
                             const std::vector<BundleEntry>& entries, std::unordered_map<size_t, Status>* errors);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_PAYLOAD_OVERLAP_H_
