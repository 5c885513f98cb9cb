// bundlefast: slice boxes, TF's slice registration checks, region copies.
//
// A partitioned tensor's full entry lists its stored slices as
// TensorSliceProtos (FORMAT.md 6.1); every slice is an ordinary entry whose
// payload is that box's elements in row-major order. Assembling a region
// means: resolve every slice to a box, refuse overlaps (TF: "Overlapping
// slices"), and copy each intersection with the request. TF implements the
// copy for 16 dtypes only; this one moves bytes, so it works for every
// fixed-width dtype, and strings reuse ForEachRun to gather element refs.
#include "slices.h"

#include <algorithm>
#include <numeric>
#include <unordered_set>

#include "byte_jobs.h"
#include "sigbus_guard.h"

namespace bundlefast {

uint64_t Box::NumElements() const {
  uint64_t n = 1;
  for (int64_t s : size) n *= static_cast<uint64_t>(s);
  return n;
}

Box FullBox(const std::vector<int64_t>& shape) {
  Box b;
  b.start.assign(shape.size(), 0);
  b.size = shape;
  return b;
}

std::string SliceString(const TensorSlice& slice) {
  std::string s;
  for (size_t d = 0; d < slice.size(); ++d) {
    if (d) s += ':';
    if (slice[d].start == 0 && slice[d].length == -1) {
      s += '-';
    } else {
      s += std::to_string(slice[d].start) + "," + std::to_string(slice[d].length);
    }
  }
  return s;
}

std::string BoxString(const Box& box) {
  std::string s;
  for (size_t d = 0; d < box.rank(); ++d) {
    if (d) s += ':';
    s += std::to_string(box.start[d]) + "," + std::to_string(box.size[d]);
  }
  return s;
}

Status SliceToBox(const TensorSlice& slice, const std::vector<int64_t>& shape, Box* out) {
  if (slice.size() != shape.size()) {
    return Status::Corruption("slice " + SliceString(slice) + " has rank " + std::to_string(slice.size()) +
                              ", but the tensor has rank " + std::to_string(shape.size()));
  }
  out->start.resize(shape.size());
  out->size.resize(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    const int64_t start = slice[d].start;
    const int64_t length = slice[d].length;
    if (start == 0 && length == -1) {  // kFullExtent
      out->start[d] = 0;
      out->size[d] = shape[d];
      continue;
    }
    // Compare without computing start + length, which could overflow.
    if (start < 0 || length < 0 || start > shape[d] || length > shape[d] - start) {
      return Status::Corruption("slice " + SliceString(slice) + " does not lie inside shape " + ShapeString(shape) +
                                " (dimension " + std::to_string(d) + ": start " + std::to_string(start) +
                                ", length " + std::to_string(length) + ")");
    }
    out->start[d] = start;
    out->size[d] = length;
  }
  return Status::OK();
}

bool Intersect(const Box& a, const Box& b, Box* out) {
  const size_t rank = a.rank();
  out->start.resize(rank);
  out->size.resize(rank);
  for (size_t d = 0; d < rank; ++d) {
    // Boxes lie inside a validated shape, so these sums cannot overflow.
    const int64_t lo = std::max(a.start[d], b.start[d]);
    const int64_t hi = std::min(a.start[d] + a.size[d], b.start[d] + b.size[d]);
    if (hi <= lo) return false;
    out->start[d] = lo;
    out->size[d] = hi - lo;
  }
  return true;
}

bool FindOverlap(const std::vector<Box>& boxes, size_t* first, size_t* second) {
  std::vector<size_t> order;
  for (size_t i = 0; i < boxes.size(); ++i) {
    if (boxes[i].NumElements() > 0) order.push_back(i);
  }
  if (order.size() < 2) return false;
  const size_t rank = boxes[order[0]].rank();
  if (rank == 0) {  // two non-empty scalars are the same element
    *first = order[0];
    *second = order[1];
    return true;
  }
  // Sweep along the dimension where the boxes are most spread out.
  size_t axis = 0;
  size_t best = 0;
  for (size_t d = 0; d < rank; ++d) {
    std::unordered_set<int64_t> starts;
    for (size_t i : order) starts.insert(boxes[i].start[d]);
    if (starts.size() > best) {
      best = starts.size();
      axis = d;
    }
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return boxes[a].start[axis] < boxes[b].start[axis]; });
  // `active` holds the boxes whose extent along `axis` reaches the current
  // start; only those can overlap the next one.
  std::vector<size_t> active;
  Box scratch;
  for (size_t i : order) {
    const int64_t lo = boxes[i].start[axis];
    active.erase(std::remove_if(active.begin(), active.end(),
                                [&](size_t j) { return boxes[j].start[axis] + boxes[j].size[axis] <= lo; }),
                 active.end());
    for (size_t j : active) {
      if (Intersect(boxes[j], boxes[i], &scratch)) {
        *first = std::min(i, j);
        *second = std::max(i, j);
        return true;
      }
    }
    active.push_back(i);
  }
  return false;
}

bool ContiguousIn(const Box& region, const Box& outer, uint64_t* first_element) {
  *first_element = 0;
  if (region.NumElements() == 0) return true;
  const size_t rank = region.rank();
  // Skip leading dimensions of extent 1; the first wider one may be partial,
  // every later one must be spanned fully.
  size_t d = 0;
  while (d < rank && region.size[d] == 1) ++d;
  for (size_t k = d + 1; k < rank; ++k) {
    if (region.size[k] != outer.size[k]) return false;
  }
  uint64_t stride = 1;
  for (size_t k = rank; k-- > 0;) {
    *first_element += static_cast<uint64_t>(region.start[k] - outer.start[k]) * stride;
    stride *= static_cast<uint64_t>(outer.size[k]);
  }
  return true;
}

std::vector<Box> SplitRegion(const Box& region, uint64_t target_elements) {
  const uint64_t n = region.NumElements();
  if (target_elements == 0 || n <= target_elements) return {region};
  size_t axis = 0;
  while (axis < region.rank() && region.size[axis] == 1) ++axis;
  if (axis == region.rank()) return {region};
  const auto extent = static_cast<uint64_t>(region.size[axis]);
  const uint64_t pieces = std::min<uint64_t>(extent, (n + target_elements - 1) / target_elements);
  std::vector<Box> out;
  out.reserve(static_cast<size_t>(pieces));
  // Piece p starts at p * q + min(p, r): even shares without overflow.
  const uint64_t q = extent / pieces, r = extent % pieces;
  for (uint64_t p = 0; p < pieces; ++p) {
    const uint64_t lo = p * q + std::min(p, r);
    const uint64_t hi = lo + q + (p < r ? 1 : 0);
    Box b = region;
    b.start[axis] = region.start[axis] + static_cast<int64_t>(lo);
    b.size[axis] = static_cast<int64_t>(hi - lo);
    out.push_back(std::move(b));
  }
  return out;
}

bool CopyRegion(char* dst, const Box& dst_box, const char* src, uint64_t src_first, const Box& src_box,
                const Box& region, int itemsize, int swap_unit) {
  const auto item = static_cast<uint64_t>(itemsize);
  bool ok = true;
  // One guard per run, not around ForEachRun: a fault must not jump over its
  // vectors' destructors.
  ForEachRun(dst_box, src_box, region, [&](uint64_t d, uint64_t s, uint64_t n) {
    if (ok) {
      const char* from = src + (s - src_first) * item;
      ok = GuardMappedRead(from, n * item, [&] { CopySwapped(dst + d * item, from, n * item, swap_unit); });
    }
  });
  return ok;
}

}  // namespace bundlefast
