// bundlefast bindings: PythonSourceOpener (see python_source.h).
//
// The core may drop a source, or call it, on a thread that does not hold the
// GIL (ReadPlan runs with it released, on pool threads): every touch of a
// Python object here takes the GIL first, including the last reference's
// release (PythonRef's deleter).
#include "python_source.h"

#include <cerrno>
#include <memory>
#include <string>
#include <utility>

namespace py = pybind11;

namespace bundlefast {
namespace bindings {

namespace {
using PythonRef = std::shared_ptr<py::object>;

PythonRef Hold(py::object o) {
  return PythonRef(new py::object(std::move(o)), [](py::object* p) {
    py::gil_scoped_acquire gil;
    delete p;
  });
}

// The exception being handled as a kIOError naming `path` (GIL held).
Status FromPython(py::error_already_set& e, const std::string& path) {
  const int err = e.matches(PyExc_FileNotFoundError) ? ENOENT : EIO;
  return Status::IOError(path + ": " + e.what(), err, path);
}
}  // namespace

SourceOpener PythonSourceOpener(py::object open_file) {
  PythonRef opener = Hold(std::move(open_file));
  return [opener](const std::string& path, std::shared_ptr<const ByteSource>* out) -> Status {
    py::gil_scoped_acquire gil;
    try {
      PythonRef file = Hold((*opener)(path));
      const auto size = (*file).attr("size").cast<uint64_t>();
      *out = std::make_shared<FunctionSource>(path, size, [file, path](uint64_t offset, uint64_t n, char* dst) {
        py::gil_scoped_acquire reading;
        try {
          py::object view = py::reinterpret_steal<py::object>(
              PyMemoryView_FromMemory(dst, static_cast<Py_ssize_t>(n), PyBUF_WRITE));
          if (!view) throw py::error_already_set();
          (*file).attr("read_into")(offset, view);
          view.attr("release")();  // the callee must not keep it: dst belongs to the core
          return Status::OK();
        } catch (py::error_already_set& e) {
          return FromPython(e, path);
        }
      });
      return Status::OK();
    } catch (py::error_already_set& e) {
      return FromPython(e, path);
    } catch (py::cast_error&) {
      return Status::IOError(path + ": the opened file's size is not an int", EINVAL, path);
    }
  };
}

}  // namespace bindings
}  // namespace bundlefast
