// bundlefast: Arena (see arena.h).
#include "arena.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>

#include "parallel.h"

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#define BUNDLEFAST_ARENA_MMAP 1
#endif

namespace bundlefast {

namespace {

#if defined(BUNDLEFAST_ARENA_MMAP)
#if defined(__linux__)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14+; older headers lack the name
#endif
#endif

// Transparent huge pages are 2 MiB on x86-64 and on arm64 with 4 KiB pages;
// aligning to that is harmless where they are bigger or absent.
constexpr uint64_t kHugePage = 2ull << 20;
// Populating is split into pieces of this many bytes (a multiple of kHugePage)
// so that several threads can share it: the kernel zeroes each page on the
// thread that faults it in.
constexpr uint64_t kPopulatePiece = 32ull << 20;

uint64_t PageSize() {
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// Whether this kernel knows MADV_POPULATE_WRITE: a zero-length advice is
// refused with EINVAL only when the advice itself is unknown.
bool CanPopulate() {
#if defined(__linux__)
  static const bool can = [] {
    void* p = mmap(nullptr, PageSize(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    const bool ok = madvise(p, 0, MADV_POPULATE_WRITE) == 0;
    munmap(p, PageSize());
    return ok;
  }();
  return can;
#else
  return false;
#endif
}
#endif

// The one arena kept for reuse (Arena::Recycle, Arena::Take). Never
// destroyed: arrays can die during interpreter shutdown, after static
// destructors would have run; the OS takes the memory back at exit.
struct RetainedSlot {
  std::mutex mu;
  std::unique_ptr<Arena> arena;  // guarded by mu
  std::atomic<uint64_t> limit{0};
};

uint64_t DefaultRetainBytes() {
  if (const char* env = std::getenv("BUNDLEFAST_ARENA_CACHE_BYTES")) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(env, &end, 10);
    if (end != env && *end == '\0' && env[0] != '-') return v;
  }
  uint64_t bound = 1ull << 30;
#if defined(BUNDLEFAST_ARENA_MMAP) && defined(_SC_PHYS_PAGES)
  const long pages = sysconf(_SC_PHYS_PAGES);
  if (pages > 0 && static_cast<uint64_t>(pages) / 8 < bound / PageSize()) {
    bound = static_cast<uint64_t>(pages) / 8 * PageSize();
  }
#endif
  return bound;
}

RetainedSlot& Slot() {
  static RetainedSlot* const slot = [] {
    auto* s = new RetainedSlot;
    s->limit.store(DefaultRetainBytes(), std::memory_order_relaxed);
#if defined(BUNDLEFAST_ARENA_MMAP)
    // A fork while another thread holds mu would leave the child's copy
    // locked forever. And the child drops its copy of the retained arena:
    // reusing it would copy every page the parent still shares (and make the
    // parent copy them too), which costs more than fresh memory.
    pthread_atfork([] { Slot().mu.lock(); }, [] { Slot().mu.unlock(); },
                   [] {
                     RetainedSlot& r = Slot();
                     r.arena.reset();
                     r.mu.unlock();
                   });
#endif
    return s;
  }();
  return *slot;
}

}  // namespace

std::unique_ptr<Arena> Arena::Take(uint64_t bytes) {
  if (bytes == 0) return nullptr;
  {
    RetainedSlot& slot = Slot();
    std::lock_guard<std::mutex> lock(slot.mu);
    if (slot.arena && slot.arena->mapped_ >= bytes && slot.arena->mapped_ / 2 <= bytes) {
      std::unique_ptr<Arena> arena = std::move(slot.arena);
      arena->size_ = bytes;
      return arena;
    }
  }
  std::unique_ptr<Arena> fresh = Allocate(bytes);
  // Out of memory (or address space) with an arena kept that did not fit:
  // give that back and try once more before the read fails.
  if (!fresh && ReleaseRetained() > 0) fresh = Allocate(bytes);
  return fresh;
}

void Arena::Recycle(std::unique_ptr<Arena> arena) {
  if (!arena) return;
  RetainedSlot& slot = Slot();
  if (arena->mapped_ > slot.limit.load(std::memory_order_relaxed)) return;  // freed here
#if defined(BUNDLEFAST_ARENA_MMAP) && defined(MADV_FREE)
  // The kernel may take the pages back under memory pressure (Take's reader
  // then faults in zeroed ones, in Populate); until it does, they stay mapped
  // and a reuse takes no fault. Costs nothing measurable: BERT-base,
  // load(verify, copy), 1 thread, medians of 7 alternated: 93.7 ms with it,
  // 97.7 without, 134.3 with no arena kept.
  (void)madvise(arena->base_, arena->mapped_, MADV_FREE);
#endif
  std::unique_ptr<Arena> displaced;  // freed after the lock is let go
  std::lock_guard<std::mutex> lock(slot.mu);
  if (arena->mapped_ > slot.limit.load(std::memory_order_relaxed)) return;
  displaced = std::move(slot.arena);
  slot.arena = std::move(arena);
}

uint64_t Arena::ReleaseRetained() {
  std::unique_ptr<Arena> arena;
  {
    RetainedSlot& slot = Slot();
    std::lock_guard<std::mutex> lock(slot.mu);
    arena = std::move(slot.arena);
  }
  return arena ? arena->mapped_ : 0;
}

uint64_t Arena::RetainBytes() { return Slot().limit.load(std::memory_order_relaxed); }

uint64_t Arena::SetRetainBytes(uint64_t bytes) {
  RetainedSlot& slot = Slot();
  std::unique_ptr<Arena> dropped;
  std::lock_guard<std::mutex> lock(slot.mu);
  const uint64_t before = slot.limit.exchange(bytes, std::memory_order_relaxed);
  if (slot.arena && slot.arena->mapped_ > bytes) dropped = std::move(slot.arena);
  return before;
}

std::pair<const char*, uint64_t> Arena::Retained() {
  RetainedSlot& slot = Slot();
  std::lock_guard<std::mutex> lock(slot.mu);
  if (!slot.arena) return {nullptr, 0};
  return {slot.arena->data_, slot.arena->mapped_};
}

std::unique_ptr<Arena> Arena::Allocate(uint64_t bytes) {
#if defined(BUNDLEFAST_ARENA_MMAP)
  const uint64_t page = PageSize();
  const uint64_t length = (bytes + page - 1) / page * page;
  if (bytes == 0 || length < bytes) return nullptr;
  const bool huge = length >= kHugePage && CanPopulate();
  int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#if defined(MAP_POPULATE)
  // Without MADV_POPULATE_WRITE, populating at mmap time (4 KiB pages) is the
  // next best (bench_alloc.py: 0.23x a warm copy, 0.20x faulting in the copy;
  // huge pages faulted one at a time inside the copy made 0.08x).
  if (!CanPopulate()) flags |= MAP_POPULATE;
#endif
  if (!huge) {
    void* p = mmap(nullptr, length, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    return std::unique_ptr<Arena>(new Arena(static_cast<char*>(p), bytes, static_cast<char*>(p), length));
  }
  // Huge pages need 2 MiB-aligned addresses, which mmap does not promise:
  // map a huge page more, keep the aligned middle, give back the rest. The
  // length is rounded up to whole huge pages, so the last one is huge too.
  const uint64_t mapped = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  if (mapped < bytes) return nullptr;
  void* p = mmap(nullptr, mapped + kHugePage, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  const auto raw = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = (raw + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > raw) munmap(p, aligned - raw);
  const uintptr_t end = raw + mapped + kHugePage;
  if (end > aligned + mapped) munmap(reinterpret_cast<void*>(aligned + mapped), end - (aligned + mapped));
  char* data = reinterpret_cast<char*>(aligned);
#if defined(MADV_HUGEPAGE)
  (void)madvise(data, mapped, MADV_HUGEPAGE);  // best effort: THP may be off
#endif
  return std::unique_ptr<Arena>(new Arena(data, bytes, data, mapped));
#else
  if (bytes == 0) return nullptr;
  char* p = static_cast<char*>(::operator new(bytes, std::align_val_t{kAlign}, std::nothrow));
  if (!p) return nullptr;
  return std::unique_ptr<Arena>(new Arena(p, bytes, p, bytes));
#endif
}

Arena::~Arena() {
#if defined(BUNDLEFAST_ARENA_MMAP)
  munmap(base_, mapped_);
#else
  ::operator delete(base_, std::align_val_t{kAlign});
#endif
}

void Arena::Populate(int threads) const {
#if defined(BUNDLEFAST_ARENA_MMAP) && defined(__linux__)
  if (!CanPopulate()) return;  // mapped with MAP_POPULATE instead
  // Up to the huge page that holds the last byte used: all of a fresh arena.
  const uint64_t used = (size_ + kHugePage - 1) / kHugePage * kHugePage;
  const uint64_t length = used < mapped_ ? used : mapped_;
  const uint64_t pieces = (length + kPopulatePiece - 1) / kPopulatePiece;
  ParallelFor(pieces, threads, [&](size_t i) {
    const uint64_t lo = i * kPopulatePiece;
    const uint64_t n = length - lo < kPopulatePiece ? length - lo : kPopulatePiece;
    // Best effort: ENOMEM here means the copy will take the faults instead
    // (and the kernel's OOM handling applies to it as to any first touch).
    (void)madvise(base_ + lo, n, MADV_POPULATE_WRITE);
  });
#else
  (void)threads;
#endif
}

}  // namespace bundlefast
