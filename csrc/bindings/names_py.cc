// bundlefast bindings: tensor keys <-> Python names (see names_py.h).
#include "names_py.h"

#include <cstring>

namespace py = pybind11;

namespace bundlefast {
namespace bindings {

py::object KeyToStr(std::string_view key) {
  // Nearly every key is ASCII: then the str is a copy of the bytes, made
  // without the decoder (keys are built once per reader, ~50k of them).
  unsigned char bits = 0;
  for (const char c : key) bits |= static_cast<unsigned char>(c);  // vectorizes, unlike an early exit
  PyObject* s;
  if (bits < 0x80) {
    s = PyUnicode_New(static_cast<Py_ssize_t>(key.size()), 0x7f);
    if (s) std::memcpy(PyUnicode_DATA(s), key.data(), key.size());
  } else {  // keys are arbitrary bytes; surrogateescape round-trips the non-UTF-8 ones
    s = PyUnicode_DecodeUTF8(key.data(), static_cast<Py_ssize_t>(key.size()), "surrogateescape");
  }
  if (!s) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(s);
}

std::string NameToKey(py::handle name) {
  if (PyBytes_Check(name.ptr())) return py::cast<std::string>(name);
  if (!PyUnicode_Check(name.ptr())) throw py::type_error("tensor names must be str or bytes");
  py::object b = py::reinterpret_steal<py::object>(PyUnicode_AsEncodedString(name.ptr(), "utf-8", "surrogateescape"));
  if (!b) throw py::error_already_set();
  return std::string(PyBytes_AS_STRING(b.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(b.ptr())));
}

}  // namespace bindings
}  // namespace bundlefast
