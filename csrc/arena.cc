// bundlefast: Arena (see arena.h).
#include "arena.h"

#include <new>

#include "parallel.h"

#if defined(__unix__) || defined(__APPLE__)
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

}  // namespace

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
  const uint64_t pieces = (mapped_ + kPopulatePiece - 1) / kPopulatePiece;
  ParallelFor(pieces, threads, [&](size_t i) {
    const uint64_t lo = i * kPopulatePiece;
    const uint64_t n = mapped_ - lo < kPopulatePiece ? mapped_ - lo : kPopulatePiece;
    // Best effort: ENOMEM here means the copy will take the faults instead
    // (and the kernel's OOM handling applies to it as to any first touch).
    (void)madvise(base_ + lo, n, MADV_POPULATE_WRITE);
  });
#else
  (void)threads;
#endif
}

}  // namespace bundlefast
