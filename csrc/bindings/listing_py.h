// bundlefast bindings: _core.list_entries, a checkpoint's listing in columns.
#ifndef BUNDLEFAST_CSRC_BINDINGS_LISTING_PY_H_
#define BUNDLEFAST_CSRC_BINDINGS_LISTING_PY_H_

#include <pybind11/pybind11.h>

namespace bundlefast {
namespace bindings {

void RegisterListing(pybind11::module_& m);

}  // namespace bindings
}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BINDINGS_LISTING_PY_H_
