// bundlefast bindings: Status code -> bundlefast.errors class.
//
//   kNotFound         TensorNotFoundError (a KeyError)
//   kCorruption       CorruptionError (a ValueError)
//   kChecksumMismatch ChecksumError (a CorruptionError)
//   kNotSupported     UnsupportedError (a NotImplementedError)
//   kInvalidArgument  InvalidArgumentError (a ValueError)
//   kIOError          BundleFileNotFoundError for ENOENT, else BundleOSError,
//                     built as OSError(errno, message, filename)
#include "errors.h"

#include <cerrno>

namespace py = pybind11;

namespace bundlefast {
namespace bindings {

namespace {
struct ErrorClasses {
  py::object not_found, corruption, checksum, unsupported, invalid_argument, os_error, file_not_found;
};

const ErrorClasses& Classes() {
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<ErrorClasses> storage;
  return storage
      .call_once_and_store_result([] {
        py::module_ errors = py::module_::import("bundlefast.errors");
        return ErrorClasses{errors.attr("TensorNotFoundError"), errors.attr("CorruptionError"),
                            errors.attr("ChecksumError"),       errors.attr("UnsupportedError"),
                            errors.attr("InvalidArgumentError"), errors.attr("BundleOSError"),
                            errors.attr("BundleFileNotFoundError")};
      })
      .get_stored();
}

// Messages can quote keys that are not UTF-8: never fail while reporting.
py::object Text(const std::string& s) {
  return py::reinterpret_steal<py::object>(
      PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "backslashreplace"));
}

void Raise(const Status& s) {
  const ErrorClasses& c = Classes();
  py::object cls;
  switch (s.code()) {
    case Status::Code::kNotFound: cls = c.not_found; break;
    case Status::Code::kChecksumMismatch: cls = c.checksum; break;
    case Status::Code::kNotSupported: cls = c.unsupported; break;
    case Status::Code::kInvalidArgument: cls = c.invalid_argument; break;
    case Status::Code::kIOError: {
      py::object os_cls = s.error_number() == ENOENT ? c.file_not_found : c.os_error;
      py::object exc = os_cls(s.error_number(), Text(s.message()), Text(s.path()));
      PyErr_SetObject(os_cls.ptr(), exc.ptr());
      return;
    }
    case Status::Code::kOk:  // not an error; never thrown
    case Status::Code::kCorruption:
    default: cls = c.corruption; break;
  }
  PyErr_SetObject(cls.ptr(), Text(s.message()).ptr());
}
}  // namespace

void RegisterErrors(py::module_& /*m*/) {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StatusError& e) {
      Raise(e.status());
    }
  });
}

}  // namespace bindings
}  // namespace bundlefast
