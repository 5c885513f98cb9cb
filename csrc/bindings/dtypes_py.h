// bundlefast bindings: the core's dtype table, seen from Python.
#ifndef BUNDLEFAST_CSRC_BINDINGS_DTYPES_PY_H_
#define BUNDLEFAST_CSRC_BINDINGS_DTYPES_PY_H_

#include <pybind11/pybind11.h>

#include <cstdint>

namespace bundlefast {
namespace bindings {

// The NumPy dtype arrays of `dtype` get (a borrowed, immortal reference), or
// None if there is none. Resolved on first use and cached: ml_dtypes is
// imported only by the first dtype that needs it (importing it takes ~1 s), and
// if it is missing or too old for that type the answer is None. GIL held.
pybind11::handle NumpyDtype(int32_t dtype);

void RegisterDtypes(pybind11::module_& m);

}  // namespace bindings
}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BINDINGS_DTYPES_PY_H_
