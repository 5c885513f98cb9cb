// bundlefast: the overlapping-payload check (see payload_overlap.h).
//
// A sweep over the payloads in offset order, keeping the one that reaches
// furthest: a payload that starts before that end overlaps it. Every payload
// that overlaps any other is caught this way (the earlier of two overlapping
// payloads is either caught itself or is the furthest-reaching one when the
// later is reached), so both sides of each overlap are reported.
#include "payload_overlap.h"

namespace bundlefast {

std::vector<std::pair<size_t, size_t>> FindOverlappingPayloads(const std::vector<PayloadRange>& ranges) {
  std::vector<std::pair<size_t, size_t>> overlaps;
  size_t furthest = 0;
  for (size_t k = 1; k < ranges.size(); ++k) {
    if (ranges[k].offset < ranges[furthest].end) overlaps.emplace_back(k, furthest);
    if (ranges[k].end > ranges[furthest].end) furthest = k;
  }
  return overlaps;
}

}  // namespace bundlefast
