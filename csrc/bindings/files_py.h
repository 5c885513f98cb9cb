// bundlefast bindings: files seen from Python: _core.MappedFile (the owner of
// zero-copy arrays) and _core.table_kind.
#ifndef BUNDLEFAST_CSRC_BINDINGS_FILES_PY_H_
#define BUNDLEFAST_CSRC_BINDINGS_FILES_PY_H_

#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>

#include "byte_source.h"

namespace bundlefast {
namespace bindings {

// A new _core.MappedFile owning a reference to `source`, which must be able
// to View its whole range: the `base` of views into it, and a read-only 1-D
// uint8 buffer over the whole file.
pybind11::object MappedFileObject(std::shared_ptr<const ByteSource> source);

// The owner of one region view [data, data + n) of `source` (a capsule named
// "bundlefast.region_view"): when the last array over it dies, the view's
// whole pages leave the process (ByteSource::ReleaseView), so a process that
// streams regions through one long-lived reader does not keep all it has read
// resident. Reads of regions of at least kReleaseViewMinBytes use it.
pybind11::object ReleasingViewOwner(std::shared_ptr<const ByteSource> source, const char* data, uint64_t n);
// Smaller views keep the shared owner: a madvise per drop would cost more
// than the few pages it could give back.
inline constexpr uint64_t kReleaseViewMinBytes = 64ull << 10;

void RegisterFiles(pybind11::module_& m);

}  // namespace bindings
}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BINDINGS_FILES_PY_H_
