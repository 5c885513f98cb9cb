// bundlefast bindings: files seen from Python: _core.MappedFile (the owner of
// zero-copy arrays) and _core.table_kind.
#ifndef BUNDLEFAST_CSRC_BINDINGS_FILES_PY_H_
#define BUNDLEFAST_CSRC_BINDINGS_FILES_PY_H_

#include <pybind11/pybind11.h>

#include <memory>

#include "byte_source.h"

namespace bundlefast {
namespace bindings {

// A new _core.MappedFile owning a reference to `source`, which must be able
// to View its whole range: the `base` of views into it, and a read-only 1-D
// uint8 buffer over the whole file.
pybind11::object MappedFileObject(std::shared_ptr<const ByteSource> source);

void RegisterFiles(pybind11::module_& m);

}  // namespace bindings
}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BINDINGS_FILES_PY_H_
