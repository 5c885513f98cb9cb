// bundlefast bindings: tensor keys (arbitrary bytes) <-> Python names (str).
#ifndef BUNDLEFAST_CSRC_BINDINGS_NAMES_PY_H_
#define BUNDLEFAST_CSRC_BINDINGS_NAMES_PY_H_

#include <pybind11/pybind11.h>

#include <string>
#include <string_view>

namespace bundlefast {
namespace bindings {

// A key as str: UTF-8, with surrogateescape for bytes that are not UTF-8, so
// every key round-trips through NameToKey.
pybind11::object KeyToStr(std::string_view key);

// A name (str, or bytes taken as they are) as the key's bytes. TypeError for
// anything else.
std::string NameToKey(pybind11::handle name);

}  // namespace bindings
}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BINDINGS_NAMES_PY_H_
