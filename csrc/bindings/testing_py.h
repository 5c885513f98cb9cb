// bundlefast bindings: _core._testing, the format layers one by one, for unit tests.
#ifndef BUNDLEFAST_CSRC_BINDINGS_TESTING_PY_H_
#define BUNDLEFAST_CSRC_BINDINGS_TESTING_PY_H_

#include <pybind11/pybind11.h>

namespace bundlefast {
namespace bindings {

void RegisterTesting(pybind11::module_& m);

}  // namespace bindings
}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BINDINGS_TESTING_PY_H_
