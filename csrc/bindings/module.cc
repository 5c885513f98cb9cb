// bundlefast bindings: the _core extension module. Registration only.
#include <pybind11/pybind11.h>

#include "crc32c_py.h"
#include "errors.h"
#include "reader_py.h"
#include "writer_py.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "bundlefast C++ core (private: use the bundlefast package)";
  m.attr("__version__") = BUNDLEFAST_VERSION;
  bundlefast::bindings::RegisterErrors(m);
  bundlefast::bindings::RegisterCrc32c(m);
  bundlefast::bindings::RegisterReader(m);
  bundlefast::bindings::RegisterWriter(m);
}
