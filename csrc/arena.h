// bundlefast: Arena, one block of fresh memory for all the copies of a read.
//
// First touch of new anonymous memory costs a page fault and the zeroing of a
// page per 4 KiB. Inside a copy that is most of its time on a small VM
// (benchmarks/README.md, "Fresh memory"): 440 MB into per-tensor np.empty
// arrays ran at 0.13-0.32x the speed of a copy into memory already mapped.
// One mapping per read, on transparent huge pages and populated in bulk
// before the copy (MADV_POPULATE_WRITE: the kernel zeroes 2 MiB pages in one
// call) measured 0.51-0.73x. A read allocates one Arena, gives every tensor
// an aligned slice of it, populates it, then copies.
//
// Not thread-safe to Populate and free at once; Populate itself may be called
// for disjoint ranges from several threads.
#ifndef BUNDLEFAST_CSRC_ARENA_H_
#define BUNDLEFAST_CSRC_ARENA_H_

#include <cstdint>
#include <memory>

namespace bundlefast {

class Arena {
 public:
  // Where each tensor's slice starts: a cache line, as NumPy aligns its own
  // allocations (and more than any dtype needs).
  static constexpr uint64_t kAlign = 64;
  // Rounds n up to kAlign (n + kAlign - 1 must not overflow: callers pass
  // sizes of bytes a file really holds).
  static uint64_t Aligned(uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

  // A fresh, zero-filled, writable block of `bytes` (> 0) bytes, asked to be
  // backed by huge pages where the system has them, not yet populated.
  // nullptr if the system has no memory for it.
  static std::unique_ptr<Arena> Allocate(uint64_t bytes);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  char* data() const { return data_; }
  uint64_t size() const { return size_; }

  // Faults in every page of the arena, writable, on up to `threads` threads,
  // so that the copies into it take no page faults. Best effort: where the
  // kernel cannot (before Linux 5.14) the copies fault the pages in as before.
  void Populate(int threads) const;

 private:
  Arena(char* data, uint64_t size, char* base, uint64_t mapped) : data_(data), size_(size), base_(base), mapped_(mapped) {}
  char* const data_;
  const uint64_t size_;
  char* const base_;       // what to release: the mapping (or allocation) itself
  const uint64_t mapped_;  // its length
};

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_ARENA_H_
