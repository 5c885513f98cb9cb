// bundlefast: surviving a data shard that shrinks while it is mapped.
//
// Reading a page of a MAP_SHARED mapping that lies past the file's current
// end raises SIGBUS, which kills the process by default. Another process (or
// a concurrent save) may truncate a shard after we mapped it, so every read of
// mapped bytes that the C++ core does itself (checksums, copies, string and
// variant decoding, slice assembly) runs inside GuardMappedRead: a SIGBUS at
// an address inside the guarded range abandons the read and the caller gets
// `false`, which it reports as kIOError (EIO) naming the file.
//
// What this cannot cover: zero-copy NumPy views. NumPy reads them in its own
// code, long after we returned, so a view of a truncated file still raises
// SIGBUS there. Callers who cannot rule out truncation use copy=True or
// verify=True, which touch every byte here, under a guard.
#ifndef BUNDLEFAST_CSRC_SIGBUS_GUARD_H_
#define BUNDLEFAST_CSRC_SIGBUS_GUARD_H_

#include <cstdint>
#include <string>
#include <type_traits>

#include "status.h"

namespace bundlefast {

namespace internal {
bool RunGuarded(const void* begin, uint64_t size, void (*fn)(void*), void* arg);
}  // namespace internal

// Calls fn() and returns true; returns false if fn() was abandoned because a
// read inside [begin, begin + size) faulted with SIGBUS (the mapped file was
// truncated). The first call installs a process-wide SIGBUS handler that
// chains to the previous one (e.g. Python's faulthandler) for every fault that
// is not inside a guarded range of the faulting thread.
//
// REQUIRES, because an abandoned fn() is left by siglongjmp, without
// unwinding: fn() holds no lock and owns no object with a non-trivial
// destructor (allocations, Python references) while it reads the guarded
// range. Keep guarded bodies to reads, arithmetic and writes into memory the
// caller owns. Guards do not nest: inside a guard, another one just calls fn()
// (the outer range applies). Thread-safe: each thread has its own guard.
template <typename Fn>
bool GuardMappedRead(const void* begin, uint64_t size, Fn&& fn) {
  using F = std::remove_reference_t<Fn>;
  return internal::RunGuarded(begin, size, [](void* f) { (*static_cast<F*>(f))(); },
                              const_cast<void*>(static_cast<const void*>(&fn)));
}

// Installs the SIGBUS handler now if it is not installed, or again if it was
// removed since and SIGBUS is back at its default action: e.g.
// faulthandler.disable() restores the handler that preceded faulthandler,
// dropping ours if we came later. The bindings call it once per read call (one
// sigaction() query); guarded reads themselves only install it the first time.
void EnsureSigbusHandler();

// The Status for a guarded read that faulted: kIOError with EIO, naming the
// file, the tensor and the byte range, and saying what happened.
Status MappedReadFault(const std::string& path, const std::string& what, uint64_t offset, uint64_t size);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_SIGBUS_GUARD_H_
