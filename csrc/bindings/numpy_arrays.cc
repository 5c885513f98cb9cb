// bundlefast bindings: NumPy array construction (see numpy_arrays.h).
#include "numpy_arrays.h"

namespace py = pybind11;

namespace bundlefast {
namespace bindings {

namespace {
py::object New(py::handle descr, const std::vector<int64_t>& shape, const char* data, int flags) {
  auto& api = py::detail::npy_api::get();
  std::vector<Py_intptr_t> dims(shape.begin(), shape.end());
  descr.inc_ref();  // PyArray_NewFromDescr steals a reference to the descriptor
  PyObject* arr = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr.ptr(), static_cast<int>(dims.size()),
                                            dims.data(), nullptr, const_cast<char*>(data), flags, nullptr);
  if (!arr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(arr);
}
}  // namespace

py::object MakeView(py::handle descr, const std::vector<int64_t>& shape, const char* data, py::handle owner) {
  // flags = 0: not writeable. NumPy derives the contiguity and alignment flags.
  py::object arr = New(descr, shape, data, 0);
  owner.inc_ref();  // PyArray_SetBaseObject steals it
  if (py::detail::npy_api::get().PyArray_SetBaseObject_(arr.ptr(), owner.ptr()) != 0) {
    throw py::error_already_set();
  }
  return arr;
}

py::object MakeEmpty(py::handle descr, const std::vector<int64_t>& shape) {
  return New(descr, shape, nullptr, 0);
}

char* ArrayData(py::handle array) { return py::detail::array_proxy(array.ptr())->data; }

void MakeReadOnly(py::handle array) {
  py::detail::array_proxy(array.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
}

}  // namespace bindings
}  // namespace bundlefast
