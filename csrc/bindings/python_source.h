// bundlefast bindings: byte sources implemented in Python (remote storage,
// caches, tests), plugged into the core as FunctionSources.
#ifndef BUNDLEFAST_CSRC_BINDINGS_PYTHON_SOURCE_H_
#define BUNDLEFAST_CSRC_BINDINGS_PYTHON_SOURCE_H_

#include <pybind11/pybind11.h>

#include "byte_source.h"

namespace bundlefast {
namespace bindings {

// A SourceOpener over `open_file`, a Python callable: open_file(path) returns
// an object with `size` (int) and `read_into(offset, out)`, which must fill
// the writable memoryview `out` with bytes [offset, offset + len(out)) or
// raise. Reads may come from several threads at once; each takes the GIL.
// Exceptions become kIOError statuses (FileNotFoundError keeps ENOENT), so
// they reach the caller as bundlefast errors naming the file.
SourceOpener PythonSourceOpener(pybind11::object open_file);

}  // namespace bindings
}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BINDINGS_PYTHON_SOURCE_H_
