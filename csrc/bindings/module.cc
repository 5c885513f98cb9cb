// bundlefast bindings: the _core extension module. Registration only.
#include <pybind11/pybind11.h>

#include "arena.h"
#include "crc32c_py.h"
#include "dtypes_py.h"
#include "errors.h"
#include "files_py.h"
#include "listing_py.h"
#include "reader_py.h"
#include "testing_py.h"
#include "writer_py.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "bundlefast C++ core (private: use the bundlefast package)";
  m.attr("__version__") = BUNDLEFAST_VERSION;
  bundlefast::bindings::RegisterErrors(m);
  bundlefast::bindings::RegisterCrc32c(m);
  bundlefast::bindings::RegisterDtypes(m);
  bundlefast::bindings::RegisterFiles(m);
  bundlefast::bindings::RegisterListing(m);
  bundlefast::bindings::RegisterReader(m);
  bundlefast::bindings::RegisterTesting(m);
  bundlefast::bindings::RegisterWriter(m);
  m.def(
      "release_memory", [] { return bundlefast::Arena::ReleaseRetained(); },
      pybind11::call_guard<pybind11::gil_scoped_release>(),
      "Frees the memory kept from freed arrays for reuse by the next load; returns its size in bytes.");
}
