// bundlefast bindings: dtype_name, dtype_size, numpy_dtype, ... over dtype.h.
#include "dtypes_py.h"

#include <pybind11/numpy.h>

#include <vector>

#include "dtype.h"

namespace py = pybind11;

namespace bundlefast {
namespace bindings {

py::handle NumpyDtype(int32_t dtype) {
  if (dtype < 0 || dtype >= kNumDataTypes) return Py_None;
  // Strong references kept for the life of the interpreter; null: not resolved yet.
  static std::vector<PyObject*>* table = new std::vector<PyObject*>(kNumDataTypes, nullptr);
  PyObject*& slot = (*table)[static_cast<size_t>(dtype)];
  if (slot) return slot;
  bool from_ml_dtypes;
  const char* name = DataTypeNumpyName(dtype, &from_ml_dtypes);
  py::object resolved = py::none();
  if (name && !from_ml_dtypes) {
    resolved = py::dtype(name);
  } else if (name) {
    try {
      py::object type = py::module_::import("ml_dtypes").attr(name);
      resolved = py::dtype::from_args(type);
    } catch (py::error_already_set&) {  // not installed, or too old to have this type
      resolved = py::none();
    }
  }
  slot = resolved.release().ptr();
  return slot;
}

void RegisterDtypes(py::module_& m) {
  m.def("dtype_name", &DataTypeName, py::arg("dtype"), "TF's name for a DataType enum value, e.g. 'DT_FLOAT'.");
  m.def("dtype_python_name", &DataTypePythonName, py::arg("dtype"),
        "TF's Python name for a DataType enum value ('float32', 'qint8', ...); '' if unknown.");
  m.def("dtype_size", &DataTypeSize, py::arg("dtype"), "Bytes per element in a bundle; 0 if not fixed-width.");
  m.def(
      "numpy_dtype", [](int32_t dtype) { return py::reinterpret_borrow<py::object>(NumpyDtype(dtype)); },
      py::arg("dtype"),
      "The NumPy dtype of arrays of this DataType, or None; imports ml_dtypes only for its types.");
  m.def(
      "dtype_numpy_name",
      [](int32_t dtype) -> py::object {
        bool from_ml_dtypes;
        const char* name = DataTypeNumpyName(dtype, &from_ml_dtypes);
        return name ? py::object(py::str(name)) : py::object(py::none());
      },
      py::arg("dtype"), "The name of numpy_dtype(dtype) ('float32', 'bfloat16', ...), without resolving it; or None.");
  m.def(
      "dtype_from_ml_dtypes",
      [](int32_t dtype) {
        bool from_ml_dtypes;
        return DataTypeNumpyName(dtype, &from_ml_dtypes) != nullptr && from_ml_dtypes;
      },
      py::arg("dtype"), "True if numpy_dtype(dtype) is an ml_dtypes type (bfloat16, float8_*, int4, ...).");
  m.attr("NUM_DTYPES") = kNumDataTypes;
}

}  // namespace bindings
}  // namespace bundlefast
