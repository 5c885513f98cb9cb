// bundlefast bindings: _core.BundleWriter, a thin face over the core's
// BundleWriter.
//
// GIL policy: arguments are converted with the GIL held (a buffer view of the
// tensor, or a view of each bytes element, which the caller's objects keep
// alive for the call); the write itself, CRCs and all, runs with it released.
// A mutex serialises calls on one writer, taken after the GIL is released so
// two threads cannot deadlock on the pair.
#include "writer_py.h"

#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "bundle_writer.h"
#include "dtype.h"
#include "errors.h"

namespace py = pybind11;

namespace bundlefast {
namespace bindings {

namespace {

struct WriterHandle {
  std::unique_ptr<BundleWriter> writer;
  std::mutex mu;
};

// A C-contiguous buffer of the caller's object, released on destruction.
class BufferView {
 public:
  explicit BufferView(py::handle obj) {
    // No PyBUF_FORMAT: ml_dtypes arrays (bfloat16, float8, ...) export raw
    // bytes fine but have no struct format string.
    if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_C_CONTIGUOUS) != 0) throw py::error_already_set();
  }
  ~BufferView() { PyBuffer_Release(&view_); }
  BufferView(const BufferView&) = delete;
  BufferView& operator=(const BufferView&) = delete;
  const char* data() const { return static_cast<const char*>(view_.buf); }
  uint64_t size() const { return static_cast<uint64_t>(view_.len); }

 private:
  Py_buffer view_{};
};

// The core's view of one tensor: `values` is a C-contiguous buffer for
// fixed-width dtypes, or a list of bytes (one per element, row-major) for
// STRING and VARIANT. `holder` keeps the buffer exported for the call.
TensorValue MakeValue(int32_t dtype, std::vector<int64_t> shape, py::handle values,
                      std::unique_ptr<BufferView>* holder) {
  TensorValue value;
  value.dtype = dtype;
  value.shape = std::move(shape);
  if (dtype == DT_STRING || dtype == DT_VARIANT) {
    if (!PyList_Check(values.ptr())) throw py::type_error("string and variant values must be a list of bytes");
    const Py_ssize_t n = PyList_GET_SIZE(values.ptr());
    value.elements.reserve(static_cast<size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject* item = PyList_GET_ITEM(values.ptr(), i);
      if (!PyBytes_Check(item)) {
        throw py::type_error("element " + std::to_string(i) + " is a " + Py_TYPE(item)->tp_name +
                             ", not bytes");
      }
      value.elements.emplace_back(PyBytes_AS_STRING(item), static_cast<size_t>(PyBytes_GET_SIZE(item)));
    }
  } else {
    *holder = std::make_unique<BufferView>(values);
    value.data = (*holder)->data();
    value.nbytes = (*holder)->size();
  }
  return value;
}

TensorSlice MakeSlice(const std::vector<std::pair<int64_t, int64_t>>& extents) {
  TensorSlice slice;
  slice.reserve(extents.size());
  for (const auto& [start, length] : extents) slice.push_back(SliceExtent{start, length});
  return slice;
}

BundleWriter& Live(WriterHandle& h) {
  if (!h.writer) throw StatusError(Status::InvalidArgument("the writer is closed"));
  return *h.writer;
}

}  // namespace

void RegisterWriter(py::module_& m) {
  py::class_<WriterHandle>(m, "BundleWriter")
      .def(py::init([](const std::string& prefix, uint64_t alignment, uint64_t max_shard_bytes,
                       uint64_t buffer_bytes, bool sync) {
             BundleWriterOptions options;
             options.alignment = alignment;
             options.max_shard_bytes = max_shard_bytes;
             options.buffer_bytes = static_cast<size_t>(buffer_bytes);
             options.sync = sync;
             auto h = std::make_unique<WriterHandle>();
             h->writer = std::make_unique<BundleWriter>(prefix, options);
             return h;
           }),
           py::arg("prefix"), py::arg("alignment") = 1, py::arg("max_shard_bytes") = 0,
           py::arg("buffer_bytes") = uint64_t{1} << 20, py::arg("sync") = true)
      .def(
          "add",
          [](WriterHandle& h, const py::bytes& key, int32_t dtype, std::vector<int64_t> shape, py::handle values) {
            std::unique_ptr<BufferView> holder;
            const TensorValue value = MakeValue(dtype, std::move(shape), values, &holder);
            const std::string k = key;
            Status s;
            {
              py::gil_scoped_release release;
              std::lock_guard<std::mutex> lock(h.mu);
              s = Live(h).Add(k, value);
            }
            ThrowIfError(s);
          },
          py::arg("key"), py::arg("dtype"), py::arg("shape"), py::arg("values"))
      .def(
          "add_slice",
          [](WriterHandle& h, const py::bytes& name, std::vector<int64_t> full_shape,
             const std::vector<std::pair<int64_t, int64_t>>& extents, int32_t dtype, std::vector<int64_t> shape,
             py::handle values) {
            std::unique_ptr<BufferView> holder;
            const TensorValue value = MakeValue(dtype, std::move(shape), values, &holder);
            const std::string n = name;
            const TensorSlice slice = MakeSlice(extents);
            Status s;
            {
              py::gil_scoped_release release;
              std::lock_guard<std::mutex> lock(h.mu);
              s = Live(h).AddSlice(n, full_shape, slice, value);
            }
            ThrowIfError(s);
          },
          py::arg("name"), py::arg("full_shape"), py::arg("extents"), py::arg("dtype"), py::arg("shape"),
          py::arg("values"))
      .def("finish",
           [](WriterHandle& h) {
             Status s;
             {
               py::gil_scoped_release release;
               std::lock_guard<std::mutex> lock(h.mu);
               s = Live(h).Finish();
             }
             ThrowIfError(s);
           })
      .def("abort",
           [](WriterHandle& h) {
             py::gil_scoped_release release;
             std::lock_guard<std::mutex> lock(h.mu);
             if (h.writer) h.writer->Abort();
           })
      .def_property_readonly("num_shards", [](WriterHandle& h) { return Live(h).num_shards(); })
      .def_property_readonly("prefix", [](WriterHandle& h) { return Live(h).prefix(); });
}

}  // namespace bindings
}  // namespace bundlefast
