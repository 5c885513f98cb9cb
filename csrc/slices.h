// bundlefast: the geometry of partitioned tensors (FORMAT.md 6.3): resolving
// stored slices to boxes, TF's registration checks, and copying the part of a
// stored slice that a requested region needs, row-major.
#ifndef BUNDLEFAST_CSRC_SLICES_H_
#define BUNDLEFAST_CSRC_SLICES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bundle_entry.h"
#include "status.h"

namespace bundlefast {

// A hyper-rectangle of a tensor's index space: dimension d spans
// [start[d], start[d] + size[d]). Every Box made by this file lies inside a
// validated shape, so its element count fits in int64.
struct Box {
  std::vector<int64_t> start;
  std::vector<int64_t> size;

  size_t rank() const { return size.size(); }
  uint64_t NumElements() const;
  bool operator==(const Box& o) const { return start == o.start && size == o.size; }
};

// The whole of a tensor of shape `shape`.
Box FullBox(const std::vector<int64_t>& shape);

// TF's text of a slice, for messages: "-" for a full dimension, else
// "start,length", joined by ':' (e.g. "0,2:-"); "" for rank 0.
std::string SliceString(const TensorSlice& slice);
// The same notation for a box, every dimension explicit.
std::string BoxString(const Box& box);

// Resolves a stored TensorSliceProto against the full shape, as TF's
// SliceTensorShape does: a full dimension (start 0, length -1) spans the whole
// dimension, otherwise 0 <= start, 0 <= length, start + length <= dim. Errors
// (kCorruption, message without file context): wrong rank, an extent outside
// the dimension, a negative start or length.
Status SliceToBox(const TensorSlice& slice, const std::vector<int64_t>& shape, Box* out);

// Sets *out = a ∩ b and returns true if it holds at least one element.
// REQUIRES: a.rank() == b.rank().
bool Intersect(const Box& a, const Box& b, Box* out);

// TF's TensorSliceSet::Register check: returns true and the positions of one
// overlapping pair if two boxes share an element. Boxes with no elements never
// overlap. Sweeps along the dimension with the most distinct starts, so the
// usual partitionings (blocks along one axis) cost O(k log k), not O(k^2).
bool FindOverlap(const std::vector<Box>& boxes, size_t* first, size_t* second);

// Calls fn(dst_element, src_element, count) for each maximal row-major run of
// `region`, where dst_element / src_element index the elements of `dst` and
// `src` in row-major order. Trailing dimensions that `region` spans fully in
// both boxes are merged into one run, so a contiguous region is a single call.
// REQUIRES: region ⊆ dst, region ⊆ src, equal ranks.
template <typename Fn>
void ForEachRun(const Box& dst, const Box& src, const Box& region, Fn&& fn);

// If `region` occupies one contiguous row-major run of `outer`, returns true
// and its first element's index in `outer`. An empty region is contiguous.
// REQUIRES: region ⊆ outer.
bool ContiguousIn(const Box& region, const Box& outer, uint64_t* first_element);

// Cuts `region` into boxes of about `target_elements` elements each (along its
// outermost dimension with more than one index), so one big copy can be shared
// by several threads. Returns {region} when it is small.
std::vector<Box> SplitRegion(const Box& region, uint64_t target_elements);

// Copies `region` from `src` (the row-major elements of box `src_box`, from
// element `src_first` on: a source may hold only the span a region needs) into
// `dst` (those of `dst_box`), `itemsize` bytes per element, reversing each
// `swap_unit`-byte unit when swap_unit > 1 (big-endian data). `src` may be a
// mapped file that shrinks meanwhile: each run is read under GuardMappedRead,
// and false means one faulted (the destination is then incomplete).
// REQUIRES: every element of `region` at or after src_first in `src_box`.
[[nodiscard]] bool CopyRegion(char* dst, const Box& dst_box, const char* src, uint64_t src_first,
                              const Box& src_box, const Box& region, int itemsize, int swap_unit);

// ---------------------------------------------------------------------------
// Implementation of the template.

template <typename Fn>
void ForEachRun(const Box& dst, const Box& src, const Box& region, Fn&& fn) {
  const size_t rank = region.rank();
  if (region.NumElements() == 0) return;
  if (rank == 0) {
    fn(uint64_t{0}, uint64_t{0}, uint64_t{1});
    return;
  }
  // Row-major strides, in elements.
  std::vector<uint64_t> dst_stride(rank), src_stride(rank);
  uint64_t ds = 1, ss = 1;
  for (size_t d = rank; d-- > 0;) {
    dst_stride[d] = ds;
    src_stride[d] = ss;
    ds *= static_cast<uint64_t>(dst.size[d]);
    ss *= static_cast<uint64_t>(src.size[d]);
  }
  // Merge trailing dimensions spanned fully by both boxes into the run.
  size_t m = rank - 1;  // outermost dimension inside one run
  uint64_t run = static_cast<uint64_t>(region.size[m]);
  while (m > 0 && region.size[m] == dst.size[m] && region.size[m] == src.size[m]) {
    --m;
    run *= static_cast<uint64_t>(region.size[m]);
  }
  // Offsets of the region's first element.
  uint64_t dst_base = 0, src_base = 0;
  for (size_t d = 0; d < rank; ++d) {
    dst_base += static_cast<uint64_t>(region.start[d] - dst.start[d]) * dst_stride[d];
    src_base += static_cast<uint64_t>(region.start[d] - src.start[d]) * src_stride[d];
  }
  // Odometer over dimensions [0, m).
  std::vector<int64_t> idx(m, 0);
  uint64_t dst_off = dst_base, src_off = src_base;
  for (;;) {
    fn(dst_off, src_off, run);
    size_t d = m;
    while (d > 0) {
      --d;
      if (++idx[d] < region.size[d]) {
        dst_off += dst_stride[d];
        src_off += src_stride[d];
        break;
      }
      dst_off -= static_cast<uint64_t>(idx[d] - 1) * dst_stride[d];
      src_off -= static_cast<uint64_t>(idx[d] - 1) * src_stride[d];
      idx[d] = 0;
      if (d == 0) return;
    }
    if (m == 0) return;
  }
}

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_SLICES_H_
