// bundlefast bindings: registration of _core.BundleWriter.
#ifndef BUNDLEFAST_CSRC_BINDINGS_WRITER_PY_H_
#define BUNDLEFAST_CSRC_BINDINGS_WRITER_PY_H_

#include <pybind11/pybind11.h>

namespace bundlefast {
namespace bindings {

void RegisterWriter(pybind11::module_& m);

}  // namespace bindings
}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BINDINGS_WRITER_PY_H_
