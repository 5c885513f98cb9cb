// bundlefast bindings: _core.BundleWriter, a thin face over the core's
// BundleWriter.
//
// GIL policy: arguments are converted with the GIL held (a buffer view of the
// tensor, or a view of each bytes element, which the caller's objects keep
// alive for the call); the write itself, CRCs and all, runs with it released.
// A mutex serialises calls on one writer, taken after the GIL is released so
// two threads cannot deadlock on the pair.
#include "writer_py.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bundle_writer.h"
#include "byte_view.h"
#include "crc32c.h"
#include "dtype.h"
#include "errors.h"
#include "string_tensor.h"
#include "table_builder.h"
#include "variant_tensor.h"

namespace py = pybind11;

namespace bundlefast {
namespace bindings {

namespace {

struct WriterHandle {
  std::unique_ptr<BundleWriter> writer;
  std::mutex mu;
};

// The core's view of one tensor: `values` is a C-contiguous buffer for
// fixed-width dtypes, or a list of bytes (one per element, row-major) for
// STRING and VARIANT. `holder` keeps the buffer exported for the call, and
// `shape` must outlive the value (it views it).
TensorValue MakeValue(int32_t dtype, const std::vector<int64_t>& shape, py::handle values,
                      std::unique_ptr<ByteView>* holder) {
  TensorValue value;
  value.dtype = dtype;
  value.dims = shape.data();
  value.rank = shape.size();
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
    *holder = std::make_unique<ByteView>(values);
    value.data = (*holder)->data();
    value.nbytes = (*holder)->size();
  }
  return value;
}

// A C-contiguous ndarray's data and shape, read from the array struct: no
// buffer export (which mallocs NumPy's buffer info) for each of 50k tensors.
// The caller's list keeps the array alive; its dtype is the one `dtype` names,
// so the element size is the bundle's.
void ArrayValue(py::handle obj, int32_t dtype, TensorValue* value) {
  const auto& api = py::detail::npy_api::get();
  if (!api.PyArray_Check_(obj.ptr())) throw py::type_error("add_many: values without shapes must be ndarrays");
  const auto* a = py::detail::array_proxy(obj.ptr());
  if ((a->flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_) == 0) {
    throw py::value_error("add_many: arrays must be C-contiguous");
  }
  static_assert(sizeof(*a->dimensions) == sizeof(int64_t), "npy_intp is 64-bit here");
  value->dtype = dtype;
  value->dims = reinterpret_cast<const int64_t*>(a->dimensions);  // the array's own shape: no copy
  value->rank = static_cast<size_t>(a->nd);
  uint64_t elements = 1;
  for (size_t i = 0; i < value->rank; ++i) elements *= static_cast<uint64_t>(value->dims[i]);
  value->data = a->data;
  value->nbytes = elements * static_cast<uint64_t>(DataTypeSize(dtype));
}

// A tensor key from str (UTF-8, surrogateescape: what the reader decodes
// non-UTF-8 keys to) or bytes, as a view valid while `key` lives: str keeps
// its UTF-8 form cached. Only a key with a lone surrogate needs new bytes,
// kept in `owned` (a deque: adding one moves no other).
std::string_view KeyBytes(py::handle key, std::deque<std::string>* owned) {
  if (PyBytes_Check(key.ptr())) {
    return std::string_view(PyBytes_AS_STRING(key.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(key.ptr())));
  }
  Py_ssize_t size;
  if (const char* utf8 = PyUnicode_AsUTF8AndSize(key.ptr(), &size)) {
    return std::string_view(utf8, static_cast<size_t>(size));
  }
  PyErr_Clear();  // a lone surrogate: encode it back to the byte it stands for
  py::object b = py::reinterpret_steal<py::object>(
      PyUnicode_AsEncodedString(key.ptr(), "utf-8", "surrogateescape"));
  if (!b) throw py::error_already_set();
  return owned->emplace_back(PyBytes_AS_STRING(b.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(b.ptr())));
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

// What a batch will add, for BundleWriter::Reserve.
struct BatchSize {
  size_t entries = 0, key_bytes = 0, dims = 0;
};

// Adds the first `n` converted tensors in order with one release of the GIL:
// per-call overhead decides the speed of 50k small tensors. `reserve`: room
// to make first (zero: none).
void AddAll(WriterHandle& h, const std::vector<std::string_view>& keys, const std::vector<TensorValue>& values,
            size_t n, const BatchSize& reserve) {
  Status s;
  {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(h.mu);
    BundleWriter& writer = Live(h);
    if (reserve.entries > 0) writer.Reserve(reserve.entries, reserve.key_bytes, reserve.dims);
    for (size_t i = 0; i < n && s.ok(); ++i) s = writer.Add(keys[i], values[i]);
  }
  ThrowIfError(s);
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
          [](WriterHandle& h, const py::bytes& key, int32_t dtype, const std::vector<int64_t>& shape,
             py::handle values) {
            std::unique_ptr<ByteView> holder;
            const TensorValue value = MakeValue(dtype, shape, values, &holder);
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
          "add_many",
          [](WriterHandle& h, const py::list& keys, const py::list& dtypes, const py::list& values,
             const py::list& shapes) {
            const size_t n = keys.size();
            if (dtypes.size() != n || values.size() != n || shapes.size() != n) {
              throw py::value_error("add_many: keys, dtypes, values and shapes differ in length");
            }
            std::vector<std::string_view> k(n);
            std::deque<std::string> owned_keys;
            std::vector<TensorValue> v(n);
            std::vector<std::unique_ptr<ByteView>> holders(n);
            std::deque<std::vector<int64_t>> owned_shapes;  // viewed by v
            for (size_t i = 0; i < n; ++i) {
              k[i] = KeyBytes(keys[i], &owned_keys);
              const auto dtype = dtypes[i].cast<int32_t>();
              py::handle shape = shapes[i];
              if (shape.is_none()) {
                ArrayValue(values[i], dtype, &v[i]);
              } else {
                owned_shapes.push_back(shape.cast<std::vector<int64_t>>());
                v[i] = MakeValue(dtype, owned_shapes.back(), values[i], &holders[i]);
              }
            }
            BatchSize size{n, 0, 0};
            for (size_t i = 0; i < n; ++i) {
              size.key_bytes += k[i].size();
              size.dims += v[i].rank;
            }
            AddAll(h, k, v, n, size);
          },
          py::arg("keys"), py::arg("dtypes"), py::arg("values"), py::arg("shapes"))
      .def(
          "add_plain",
          [](WriterHandle& h, const py::list& keys, const py::list& values, const py::dict& dtype_table) {
            // The bulk case checked here rather than by a Python loop: every key a
            // non-empty str, every value an exact, C-contiguous ndarray whose dtype
            // is in `dtype_table`. If one is not, nothing is written: False.
            const size_t n = keys.size();
            if (values.size() != n) throw py::value_error("add_plain: keys and values differ in length");
            const auto& api = py::detail::npy_api::get();
            std::vector<int32_t> dtypes(n);
            BatchSize size{n, 0, 0};
            PyObject* last_descr = nullptr;  // models repeat a few dtypes: skip most lookups
            int32_t last_dtype = 0;
            for (size_t i = 0; i < n; ++i) {
              PyObject* key = PyList_GET_ITEM(keys.ptr(), static_cast<Py_ssize_t>(i));
              PyObject* value = PyList_GET_ITEM(values.ptr(), static_cast<Py_ssize_t>(i));
              if (!PyUnicode_CheckExact(key) || PyUnicode_GET_LENGTH(key) == 0) return false;
              if (Py_TYPE(value) != api.PyArray_Type_) return false;
              const auto* a = py::detail::array_proxy(value);
              if (a->descr != last_descr) {
                PyObject* dtype = PyDict_GetItem(dtype_table.ptr(), a->descr);  // borrowed
                if (dtype == nullptr) return false;
                last_descr = a->descr;
                last_dtype = static_cast<int32_t>(PyLong_AsLong(dtype));
              }
              if ((a->flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_) == 0) return false;
              dtypes[i] = last_dtype;
              size.key_bytes += static_cast<size_t>(PyUnicode_GET_LENGTH(key));  // exact for ASCII: a hint
              size.dims += static_cast<size_t>(a->nd);
            }
            // All checked: now converted and written a chunk at a time, so the
            // views stay in cache and no batch-sized array of them is built.
            constexpr size_t kChunk = 1024;
            std::vector<std::string_view> k(std::min(n, kChunk));
            std::vector<TensorValue> v(k.size());
            std::deque<std::string> owned_keys;
            for (size_t start = 0; start < n; start += kChunk) {
              const size_t count = std::min(kChunk, n - start);
              for (size_t j = 0; j < count; ++j) {
                const auto i = static_cast<Py_ssize_t>(start + j);
                k[j] = KeyBytes(PyList_GET_ITEM(keys.ptr(), i), &owned_keys);
                ArrayValue(PyList_GET_ITEM(values.ptr(), i), dtypes[start + j], &v[j]);
              }
              AddAll(h, k, v, count, start == 0 ? size : BatchSize{});
            }
            return true;
          },
          py::arg("keys"), py::arg("values"), py::arg("dtype_table"))
      .def(
          "add_slice",
          [](WriterHandle& h, const py::bytes& name, std::vector<int64_t> full_shape,
             const std::vector<std::pair<int64_t, int64_t>>& extents, int32_t dtype,
             const std::vector<int64_t>& shape, py::handle values) {
            std::unique_ptr<ByteView> holder;
            const TensorValue value = MakeValue(dtype, shape, values, &holder);
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

  // The encoders one by one, for the unit tests (tests/core/): each is checked
  // against FORMAT.md's vectors and the independent Python oracle.
  m.def(
      "_build_table",
      [](const std::vector<std::pair<py::bytes, py::bytes>>& items, size_t block_size) {
        TableBuilder table(block_size);
        for (const auto& [key, value] : items) ThrowIfError(table.Add(std::string(key), std::string(value)));
        return py::bytes(table.Finish());
      },
      py::arg("items"), py::arg("block_size") = kTableBlockSize);
  m.def("_shortest_separator", [](const py::bytes& a, const py::bytes& b) {
    return py::bytes(ShortestSeparator(std::string(a), std::string(b)));
  });
  m.def("_short_successor", [](const py::bytes& a) { return py::bytes(ShortSuccessor(std::string(a))); });
  m.def(
      "_encode_bundle_header",
      [](int32_t num_shards, int32_t endianness, int32_t producer, int32_t min_consumer,
         const std::vector<int32_t>& bad_consumers) {
        BundleHeader h{num_shards, endianness, producer, min_consumer, bad_consumers};
        std::string out;
        EncodeBundleHeader(h, &out);
        return py::bytes(out);
      },
      py::arg("num_shards"), py::arg("endianness") = 0, py::arg("producer") = 1, py::arg("min_consumer") = 0,
      py::arg("bad_consumers") = std::vector<int32_t>());
  m.def(
      "_encode_bundle_entry",
      [](int32_t dtype, const std::vector<int64_t>& shape, int32_t shard_id, int64_t offset, int64_t size,
         uint32_t masked_crc32c, const std::vector<std::vector<std::pair<int64_t, int64_t>>>& slices) {
        BundleEntry e;
        e.dtype = dtype;
        e.shape = shape;
        e.shard_id = shard_id;
        e.offset = offset;
        e.size = size;
        e.masked_crc32c = masked_crc32c;
        for (const auto& extents : slices) e.slices.push_back(MakeSlice(extents));
        std::string out;
        EncodeBundleEntry(e, &out);
        return py::bytes(out);
      },
      py::arg("dtype"), py::arg("shape"), py::arg("shard_id") = 0, py::arg("offset") = 0, py::arg("size") = 0,
      py::arg("masked_crc32c") = 0, py::arg("slices") = std::vector<std::vector<std::pair<int64_t, int64_t>>>());
  m.def(
      "_encode_string_tensor",
      [](const std::vector<py::bytes>& elements, bool big_endian) {
        std::vector<uint64_t> lengths;
        std::string body;
        for (const py::bytes& e : elements) {
          const std::string s = e;
          lengths.push_back(s.size());
          body += s;
        }
        std::string payload;
        uint32_t crc = EncodeStringTensorHead(lengths, big_endian, &payload);
        crc = crc32c::Extend(crc, body.data(), body.size());
        return py::make_tuple(py::bytes(payload + body), crc32c::Mask(crc));
      },
      py::arg("elements"), py::arg("big_endian") = false);
  m.def("_encode_variant_tensor", [](const std::vector<py::bytes>& elements) {
    std::vector<std::string> owned(elements.begin(), elements.end());
    std::vector<std::string_view> views(owned.begin(), owned.end());
    std::string payload;
    const uint32_t masked = EncodeVariantTensor(views, &payload);
    return py::make_tuple(py::bytes(payload), masked);
  });
}

}  // namespace bindings
}  // namespace bundlefast
