// bundlefast bindings: building NumPy arrays through pybind11's NumPy C-API table.
//
// We call PyArray_NewFromDescr directly instead of constructing py::array:
// it lets us pass the data pointer, the owner (`base`) and read-only flags in
// one step, with no per-call dtype conversion, which matters at ~50k tensors.
#ifndef BUNDLEFAST_CSRC_BINDINGS_NUMPY_ARRAYS_H_
#define BUNDLEFAST_CSRC_BINDINGS_NUMPY_ARRAYS_H_

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "arena.h"
#include "read_plan.h"
#include "status.h"

namespace bundlefast {
namespace bindings {

// A read-only, C-contiguous view of `data` with dtype `descr` and `shape`,
// whose base is `owner` (which must keep `data` alive). Never copies.
pybind11::object MakeView(pybind11::handle descr, const std::vector<int64_t>& shape, const char* data,
                          pybind11::handle owner);

// A new, owned, writeable, C-contiguous array (NumPy's allocator, so aligned),
// its pages prefaulted from 1 MiB up. For reads that fill fewer than
// ArenaMinBytes(); bigger ones fill an arena instead (ArenaOwner, MakeInArena).
pybind11::object MakeEmpty(pybind11::handle descr, const std::vector<int64_t>& shape);

// The owner of `arena` as a Python object (a capsule named "bundlefast.arena"):
// the base of every array made over it by MakeInArena. The arena is recycled
// (kept for the next read, or freed: Arena::Recycle) when the last of them
// dies, so one surviving array keeps the whole arena alive (`array.copy()`
// detaches one). Throws MemoryError if `arena` is null.
pybind11::object ArenaOwner(std::unique_ptr<Arena> arena);

// Reads whose copies total fewer bytes than this allocate each array on its
// own: below it, repeated reads reuse memory the allocator already holds (glibc
// serves blocks under its 32 MiB mmap ceiling from a heap it keeps), which a
// fresh arena, zeroed by the kernel on every read, cannot. Measured by
// alternating both in one process (load(verify, copy), 1 thread, medians):
// bert-quick, 17.5 MB, 4.5 ms per array against 5.8 ms in an arena; BERT,
// 440 MB with a 94 MB tensor past that ceiling, 228 ms against 149 ms.
// Settable for tests (_core._testing.set_arena_min_bytes).
uint64_t ArenaMinBytes();
void SetArenaMinBytes(uint64_t bytes);

// The Arena an ArenaOwner object owns.
const Arena& OwnedArena(pybind11::handle owner);

// A writeable, C-contiguous array over `data` (a slice of the arena `owner`
// owns, at least the array's size, aligned to Arena::kAlign), based on `owner`.
pybind11::object MakeInArena(pybind11::handle descr, const std::vector<int64_t>& shape, char* data,
                             pybind11::handle owner);

// Whether NumPy can hold an array of `shape` with `itemsize`-byte elements:
// at most NPY_MAXDIMS dimensions (32 before NumPy 2, 64 since), and the
// product of the non-zero dimensions times itemsize within npy_intp (NumPy
// checks that even for empty arrays). TF allows rank 254 and any int64
// product, so a valid tensor can fail this: kNotSupported, message without
// the tensor's name (the caller adds it). Call with the GIL held.
Status CheckArrayShape(const std::vector<int64_t>& shape, int itemsize);

// Address of an array's first byte.
char* ArrayData(pybind11::handle array);

// Clears NPY_ARRAY_WRITEABLE.
void MakeReadOnly(pybind11::handle array);

// Result k of a prepared plan (a STRING or VARIANT tensor) as a new object
// array of bytes, as TF's get_tensor returns it (for variants: the serialized
// VariantTensorDataProtos). Throws StatusError if a file shrank meanwhile.
pybind11::object MakeBytesArray(const ReadPlan& plan, size_t k, const std::vector<int64_t>& shape);

}  // namespace bindings
}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BINDINGS_NUMPY_ARRAYS_H_
