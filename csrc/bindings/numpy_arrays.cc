// bundlefast bindings: NumPy array construction (see numpy_arrays.h).
#include "numpy_arrays.h"

#include <atomic>
#include <cstdint>
#include <new>
#include <string>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "bundle_entry.h"
#include "coding.h"
#include "errors.h"

namespace py = pybind11;

namespace bundlefast {
namespace bindings {

namespace {
py::object New(py::handle descr, const std::vector<int64_t>& shape, const char* data, int flags) {
  auto& api = py::detail::npy_api::get();
  // Dimensions on the stack for the usual ranks: this runs once per tensor,
  // and a heap allocation per array is measurable at ~50k tensors.
  constexpr size_t kInline = 16;
  Py_intptr_t inline_dims[kInline];
  std::vector<Py_intptr_t> heap_dims;
  Py_intptr_t* dims = inline_dims;
  if (shape.size() > kInline) {
    heap_dims.resize(shape.size());
    dims = heap_dims.data();
  }
  for (size_t i = 0; i < shape.size(); ++i) dims[i] = static_cast<Py_intptr_t>(shape[i]);
  descr.inc_ref();  // PyArray_NewFromDescr steals a reference to the descriptor
  PyObject* arr = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr.ptr(), static_cast<int>(shape.size()), dims,
                                            nullptr, const_cast<char*>(data), flags, nullptr);
  if (!arr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(arr);
}
}  // namespace

Status CheckArrayShape(const std::vector<int64_t>& shape, int itemsize) {
  static const size_t max_dims = [] {
    const std::string version = py::str(py::module_::import("numpy").attr("__version__"));
    return std::stoi(version) >= 2 ? size_t{64} : size_t{32};
  }();
  if (shape.size() > max_dims) {
    return Status::NotSupported("shape " + ShapeString(shape) + " has " + std::to_string(shape.size()) +
                                " dimensions; NumPy arrays have at most " + std::to_string(max_dims));
  }
  uint64_t nbytes = static_cast<uint64_t>(itemsize);
  for (int64_t d : shape) {
    if (d != 0 && (!CheckedMul(nbytes, static_cast<uint64_t>(d), &nbytes) ||
                   nbytes > static_cast<uint64_t>(PTRDIFF_MAX))) {
      return Status::NotSupported("shape " + ShapeString(shape) + " with " + std::to_string(itemsize) +
                                  "-byte elements is too big for a NumPy array (NumPy multiplies the non-zero "
                                  "dimensions even when the array is empty)");
    }
  }
  return Status::OK();
}

namespace {
py::object NewBased(py::handle descr, const std::vector<int64_t>& shape, const char* data, int flags,
                    py::handle owner) {
  // NumPy derives the contiguity and alignment flags.
  py::object arr = New(descr, shape, data, flags);
  owner.inc_ref();  // PyArray_SetBaseObject steals it
  if (py::detail::npy_api::get().PyArray_SetBaseObject_(arr.ptr(), owner.ptr()) != 0) {
    throw py::error_already_set();
  }
  return arr;
}

constexpr const char* kArenaName = "bundlefast.arena";
}  // namespace

py::object MakeView(py::handle descr, const std::vector<int64_t>& shape, const char* data, py::handle owner) {
  return NewBased(descr, shape, data, 0, owner);  // flags = 0: not writeable
}

namespace {
std::atomic<uint64_t> arena_min_bytes{64ull << 20};
}  // namespace

uint64_t ArenaMinBytes() { return arena_min_bytes.load(std::memory_order_relaxed); }
void SetArenaMinBytes(uint64_t bytes) { arena_min_bytes.store(bytes, std::memory_order_relaxed); }

py::object ArenaOwner(std::unique_ptr<Arena> arena) {
  if (!arena) throw std::bad_alloc();  // pybind11 raises MemoryError, as np.empty would
  // The destructor runs when the last array based on the capsule dies, with
  // the GIL held: the arena is kept for the next read (Arena::Recycle), or
  // unmapped, which is fast for populated pages (no zeroing, no I/O).
  py::capsule owner(arena.get(), kArenaName, [](PyObject* o) {
    Arena::Recycle(std::unique_ptr<Arena>(static_cast<Arena*>(PyCapsule_GetPointer(o, kArenaName))));
  });
  arena.release();
  return std::move(owner);
}

const Arena& OwnedArena(py::handle owner) {
  return *static_cast<const Arena*>(PyCapsule_GetPointer(owner.ptr(), kArenaName));
}

py::object MakeInArena(py::handle descr, const std::vector<int64_t>& shape, char* data, py::handle owner) {
  return NewBased(descr, shape, data, py::detail::npy_api::NPY_ARRAY_WRITEABLE_, owner);
}

namespace {
// Arrays from this size up get their pages faulted in by one madvise call
// before they are filled. A copy into fresh memory otherwise takes a page
// fault (and the zeroing of a page) per 4 KiB inside the copy, which on a
// small VM costs more than the copy itself: benchmarks/bench_alloc.py
// measured BERT-base's copies (440 MB) at 0.13x the speed of a copy into
// mapped memory as plain np.empty, 0.32x with this (benchmarks/README.md,
// "Fresh memory"). Below 1 MiB the syscall is not worth it.
constexpr size_t kPrefaultBytes = size_t{1} << 20;

// Faults in the whole pages of [data, data + n) writable, without writing
// them (MADV_POPULATE_WRITE, Linux 5.14+). Best effort: an older kernel
// says EINVAL and the copy faults the pages in as before. The contents are
// untouched, so this is safe on any memory NumPy allocated.
void Prefault(char* data, size_t n) {
#if defined(__linux__)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(data) + n) / page * page;
  if (hi <= lo) return;
  py::gil_scoped_release release;  // the kernel zeroes every page: milliseconds per 10 MB
  (void)madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_POPULATE_WRITE);
#else
  (void)data;
  (void)n;
#endif
}
}  // namespace

py::object MakeEmpty(py::handle descr, const std::vector<int64_t>& shape) {
  py::object array = New(descr, shape, nullptr, 0);
  // C-contiguous, so the outermost stride times its extent is the size in
  // bytes (a 0-d array is one element: never large).
  const auto* a = py::detail::array_proxy(array.ptr());
  if (a->nd > 0) {
    const auto total = static_cast<size_t>(a->dimensions[0]) * static_cast<size_t>(a->strides[0]);
    if (total >= kPrefaultBytes) Prefault(a->data, total);
  }
  return array;
}

char* ArrayData(py::handle array) { return py::detail::array_proxy(array.ptr())->data; }

void MakeReadOnly(py::handle array) {
  py::detail::array_proxy(array.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
}

py::object MakeBytesArray(const ReadPlan& plan, size_t k, const std::vector<int64_t>& shape) {
  static py::object object_dtype = py::dtype("O");
  py::object arr = MakeEmpty(object_dtype, shape);
  auto** slots = reinterpret_cast<PyObject**>(ArrayData(arr));
  for (uint64_t j = 0; j < plan.num_elements(k); ++j) {
    // Allocate first, then copy under the guard: these bytes may be read here
    // for the first time, in a mapped file that can have shrunk since.
    PyObject* b = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(plan.element(k, j).size));
    if (!b) throw py::error_already_set();
    const Status s = plan.CopyElement(k, j, PyBytes_AS_STRING(b));
    if (!s.ok()) Py_DECREF(b);
    ThrowIfError(s);
    Py_XDECREF(slots[j]);  // NumPy fills new object arrays with None or NULL
    slots[j] = b;
  }
  return arr;
}

}  // namespace bindings
}  // namespace bundlefast
