// bundlefast: Arena, one block of memory for all the copies of a read.
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
// Even populated in bulk, the kernel zeroes and maps every page of a fresh
// arena on every read: on BERT-base (440 MB) that is most of what a
// load(verify, copy) costs beyond the copy itself. TF's allocator and glibc's
// keep memory they freed for the next request; so does this: when the last
// array of an arena dies, Recycle keeps it (one arena at most, of at most
// RetainBytes(), its pages given up lazily with MADV_FREE so that the kernel
// may reclaim them under memory pressure), and Take gives it to the next read
// it fits. Every byte of an array is overwritten by its read, and no one sees
// the slack between arrays, so what a reused arena held before never reaches
// a user. The numbers: benchmarks/README.md, "Reusing a freed arena".
//
// Take and Recycle may be called from any thread. An Arena itself is not
// thread-safe to Populate and free at once; Populate may be called for
// disjoint ranges from several threads.
#ifndef BUNDLEFAST_CSRC_ARENA_H_
#define BUNDLEFAST_CSRC_ARENA_H_

#include <cstdint>
#include <memory>
#include <utility>

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

  // The retained arena if it holds `bytes` (> 0) without wasting more than
  // as much again (so a small read does not pin a big block), else
  // Allocate(bytes) (retried once after freeing a retained arena that did
  // not fit, if that fails). A reused arena is not zeroed: the caller
  // overwrites every byte it hands out.
  static std::unique_ptr<Arena> Take(uint64_t bytes);
  // Where an arena goes when nothing uses it any more: kept for Take if it is
  // at most RetainBytes() (the arena kept before is freed), else freed.
  static void Recycle(std::unique_ptr<Arena> arena);
  // Frees the retained arena; returns its size in bytes (0: none was kept).
  static uint64_t ReleaseRetained();
  // The most bytes an arena kept for reuse may have; 0 keeps none. By default
  // min(1 GiB, 1/8 of physical memory), or BUNDLEFAST_ARENA_CACHE_BYTES
  // (a decimal byte count) as read at the first call. Setting a smaller
  // bound frees a retained arena that exceeds it; returns the old bound.
  static uint64_t RetainBytes();
  static uint64_t SetRetainBytes(uint64_t bytes);
  // The retained arena's start and capacity in bytes ({nullptr, 0}: none), for tests.
  static std::pair<const char*, uint64_t> Retained();

  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  char* data() const { return data_; }
  // Bytes asked for by the read that holds it; capacity(): bytes mapped.
  uint64_t size() const { return size_; }
  uint64_t capacity() const { return mapped_; }

  // Faults in every page of the arena up to the huge page holding byte
  // size() - 1 (all of a fresh one), writable, on up to `threads` threads, so
  // that the copies into it take no page faults. On a reused arena it only
  // walks mapped pages, unless the kernel took some back (MADV_FREE). Best
  // effort: where the kernel cannot (before Linux 5.14) the copies fault the
  // pages in as before.
  void Populate(int threads) const;

 private:
  Arena(char* data, uint64_t size, char* base, uint64_t mapped) : data_(data), size_(size), base_(base), mapped_(mapped) {}
  char* const data_;
  uint64_t size_;  // set again when Take reuses the arena
  char* const base_;       // what to release: the mapping (or allocation) itself
  const uint64_t mapped_;  // its length
};

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_ARENA_H_
