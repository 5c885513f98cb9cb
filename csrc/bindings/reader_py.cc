// bundlefast bindings: _core.Reader and _core.MappedFile.
//
// GIL policy: Python arguments are converted first; opening, locating,
// checksumming, string parsing and copying run with the GIL released; arrays
// and other Python objects are built with it held.
#include "reader_py.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "bundle_reader.h"
#include "dtype.h"
#include "errors.h"
#include "numpy_arrays.h"
#include "parallel.h"
#include "payload.h"

namespace py = pybind11;

namespace bundlefast {
namespace bindings {

namespace {

// The Python face of a shard mapping: owner (`base`) of every view into it, and
// a read-only 1-D uint8 buffer over the whole file.
struct MappedFileHandle {
  std::shared_ptr<const MappedFile> file;
};

// TF dtype enum -> numpy dtype (or None), installed once by bundlefast._dtypes
// at import. Immutable afterwards; a leaked strong reference, so it is valid
// for the life of the interpreter.
std::vector<PyObject*>& DtypeTable() {
  static std::vector<PyObject*>* table = new std::vector<PyObject*>();
  return *table;
}

void SetDtypeTable(const py::list& dtypes) {
  std::vector<PyObject*>& table = DtypeTable();
  if (!table.empty()) throw py::value_error("the dtype table is already set");
  for (py::handle d : dtypes) {
    d.inc_ref();
    table.push_back(d.ptr());
  }
}

py::handle NumpyDtype(int32_t dtype, const std::string& where) {
  const std::vector<PyObject*>& table = DtypeTable();
  if (dtype < 0 || static_cast<size_t>(dtype) >= table.size() || table[static_cast<size_t>(dtype)] == Py_None) {
    ThrowIfError(Status::NotSupported(where + " has dtype " + DataTypeName(dtype) +
                                      ", which has no NumPy equivalent here (is ml_dtypes installed and recent?)"));
  }
  return table[static_cast<size_t>(dtype)];
}

py::object KeyToStr(const std::string& key) {
  // Keys are arbitrary bytes; surrogateescape round-trips the non-UTF-8 ones.
  PyObject* s = PyUnicode_DecodeUTF8(key.data(), static_cast<Py_ssize_t>(key.size()), "surrogateescape");
  if (!s) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(s);
}

std::string NameToKey(py::handle name) {
  if (PyBytes_Check(name.ptr())) return py::cast<std::string>(name);
  if (!PyUnicode_Check(name.ptr())) throw py::type_error("tensor names must be str or bytes");
  PyObject* b = PyUnicode_AsEncodedString(name.ptr(), "utf-8", "surrogateescape");
  if (!b) throw py::error_already_set();
  py::object bytes = py::reinterpret_steal<py::object>(b);
  return std::string(PyBytes_AS_STRING(b), static_cast<size_t>(PyBytes_GET_SIZE(b)));
}

py::tuple ShapeTuple(const std::vector<int64_t>& shape) {
  py::tuple t(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) t[i] = py::int_(shape[i]);
  return t;
}

class PyReader {
 public:
  explicit PyReader(const std::string& prefix) {
    py::gil_scoped_release nogil;
    ThrowIfError(BundleReader::Open(prefix, &reader_));
  }

  const BundleReader& reader() const { return *reader_; }

  // All keys as str, built once.
  py::list Keys() {
    if (!keys_) {
      py::list keys(reader_->size());
      for (size_t i = 0; i < reader_->size(); ++i) keys[i] = KeyToStr(reader_->key(i));
      keys_ = std::move(keys);
    }
    return py::reinterpret_borrow<py::list>(keys_);
  }

  size_t Index(py::handle name) const {
    const int64_t i = reader_->Find(NameToKey(name));
    if (i < 0) {
      ThrowIfError(Status::NotFound("tensor '" + py::str(name).cast<std::string>() + "' not found in " +
                                    reader_->index_path()));
    }
    return static_cast<size_t>(i);
  }

  bool Contains(py::handle name) const {
    if (!PyUnicode_Check(name.ptr()) && !PyBytes_Check(name.ptr())) return false;
    return reader_->Find(NameToKey(name)) >= 0;
  }

  // (dtype enum, shape, shard_id, offset, size, masked crc32c or None, slices)
  py::tuple Info(py::handle name) const {
    const size_t i = Index(name);
    const BundleEntry* e;
    ThrowIfError(reader_->entry(i, &e));
    py::list slices;
    for (const TensorSlice& s : e->slices) {
      py::list extents;
      for (const SliceExtent& x : s) extents.append(py::make_tuple(x.start, x.length));
      slices.append(py::tuple(extents));
    }
    return py::make_tuple(e->dtype, ShapeTuple(e->shape), e->shard_id, e->offset, e->size,
                          e->has_crc32c ? py::object(py::int_(e->masked_crc32c)) : py::object(py::none()),
                          py::tuple(slices));
  }

  std::vector<size_t> Indices(const py::object& names) {
    std::vector<size_t> idx;
    if (names.is_none()) {
      idx.resize(reader_->size());
      for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    } else {
      for (py::handle n : names) idx.push_back(Index(n));
    }
    return idx;
  }

  py::dict Load(const py::object& names, bool verify, bool copy) {
    const std::vector<size_t> idx = Indices(names);
    py::list keys = Keys();
    std::vector<py::object> arrays = Read(idx, verify, copy);
    py::dict out;
    for (size_t k = 0; k < idx.size(); ++k) out[keys[idx[k]]] = std::move(arrays[k]);
    return out;
  }

  py::object Get(py::handle name, bool verify, bool copy) { return Read({Index(name)}, verify, copy)[0]; }

  void Verify(const py::object& names) {
    const std::vector<size_t> idx = Indices(names);
    py::gil_scoped_release nogil;
    std::vector<BundleReader::Payload> payloads;
    std::vector<std::vector<StringRef>> strings;
    Prepare(idx, /*verify=*/true, &payloads, &strings);
  }

  void Close() {
    reader_->Close();
    shard_handles_.clear();
  }

 private:
  // With the GIL released: locate every payload, verify, parse strings.
  void Prepare(const std::vector<size_t>& idx, bool verify, std::vector<BundleReader::Payload>* payloads,
               std::vector<std::vector<StringRef>>* strings) {
    payloads->resize(idx.size());
    strings->resize(idx.size());
    for (size_t k = 0; k < idx.size(); ++k) ThrowIfError(reader_->Locate(idx[k], &(*payloads)[k]));
    const int threads = DefaultThreads();
    if (verify) ThrowIfError(reader_->VerifyPayloads(idx, *payloads, threads));
    std::vector<size_t> string_pos;
    for (size_t k = 0; k < idx.size(); ++k) {
      if ((*payloads)[k].entry->dtype == DT_STRING) string_pos.push_back(k);
    }
    std::vector<Status> errors(string_pos.size());
    ParallelFor(string_pos.size(), threads, [&](size_t j) {
      const size_t k = string_pos[j];
      errors[j] = reader_->DecodeStrings(idx[k], (*payloads)[k], verify, &(*strings)[k]);
    });
    for (const Status& s : errors) ThrowIfError(s);
  }

  py::object ShardHandle(const BundleReader::Payload& p) {
    const auto shard = static_cast<size_t>(p.entry->shard_id);
    if (shard_handles_.size() <= shard) shard_handles_.resize(shard + 1);
    py::object& h = shard_handles_[shard];
    if (!h || h.cast<const MappedFileHandle&>().file != p.file) h = py::cast(MappedFileHandle{p.file});
    return h;
  }

  std::vector<py::object> Read(const std::vector<size_t>& idx, bool verify, bool copy) {
    std::vector<BundleReader::Payload> payloads;
    std::vector<std::vector<StringRef>> strings;
    {
      py::gil_scoped_release nogil;
      Prepare(idx, verify, &payloads, &strings);
    }
    const bool swap = reader_->needs_byte_swap();
    std::vector<py::object> arrays(idx.size());
    std::vector<CopyJob> jobs;
    std::vector<size_t> copied;
    for (size_t k = 0; k < idx.size(); ++k) {
      const BundleReader::Payload& p = payloads[k];
      const BundleEntry& e = *p.entry;
      if (e.dtype == DT_STRING) {
        arrays[k] = StringArray(e, p, strings[k]);
        if (!copy) copied.push_back(k);  // not a view, but read-only like one
        continue;
      }
      py::handle descr = NumpyDtype(e.dtype, reader_->Where(idx[k]));
      if (copy || swap) {
        // A big-endian bundle is returned in native order, which needs a copy.
        arrays[k] = MakeEmpty(descr, e.shape);
        jobs.push_back(CopyJob{ArrayData(arrays[k]), p.data, static_cast<uint64_t>(e.size),
                               swap ? DataTypeSwapUnit(e.dtype) : 1});
        copied.push_back(k);
      } else {
        arrays[k] = MakeView(descr, e.shape, p.data, ShardHandle(p));
      }
    }
    if (!jobs.empty()) {
      py::gil_scoped_release nogil;
      CopyRanges(jobs, DefaultThreads());
    }
    if (!copy) {
      for (size_t k : copied) MakeReadOnly(arrays[k]);
    }
    return arrays;
  }

  // An object array of bytes, as TF's get_tensor returns for DT_STRING.
  static py::object StringArray(const BundleEntry& e, const BundleReader::Payload& p,
                                const std::vector<StringRef>& refs) {
    static py::object object_dtype = py::dtype("O");
    py::object arr = MakeEmpty(object_dtype, e.shape);
    auto** slots = reinterpret_cast<PyObject**>(ArrayData(arr));
    for (size_t j = 0; j < refs.size(); ++j) {
      PyObject* b = PyBytes_FromStringAndSize(p.data + refs[j].offset, static_cast<Py_ssize_t>(refs[j].length));
      if (!b) throw py::error_already_set();
      Py_XDECREF(slots[j]);  // NumPy fills new object arrays with None or NULL
      slots[j] = b;
    }
    return arr;
  }

  std::unique_ptr<BundleReader> reader_;
  py::object keys_;
  std::vector<py::object> shard_handles_;
};

}  // namespace

void RegisterReader(py::module_& m) {
  py::class_<MappedFileHandle>(m, "MappedFile", py::buffer_protocol(),
                               "A read-only mapping of one data shard; the owner of zero-copy arrays.")
      .def_property_readonly("path", [](const MappedFileHandle& h) { return h.file->path(); })
      .def_property_readonly("size", [](const MappedFileHandle& h) { return h.file->size(); })
      .def("__len__", [](const MappedFileHandle& h) { return h.file->size(); })
      .def("__repr__",
           [](const MappedFileHandle& h) {
             return "<bundlefast._core.MappedFile '" + h.file->path() + "' (" + std::to_string(h.file->size()) +
                    " bytes)>";
           })
      .def_buffer([](const MappedFileHandle& h) {
        return py::buffer_info(const_cast<char*>(h.file->data()), 1, py::format_descriptor<uint8_t>::format(), 1,
                               {static_cast<py::ssize_t>(h.file->size())}, {1}, /*readonly=*/true);
      });

  py::class_<PyReader>(m, "Reader", "An opened tensor bundle (see bundlefast.open).")
      .def(py::init<const std::string&>(), py::arg("prefix"))
      .def_property_readonly("prefix", [](const PyReader& r) { return r.reader().prefix(); })
      .def_property_readonly("index_path", [](const PyReader& r) { return r.reader().index_path(); })
      .def_property_readonly("num_shards", [](const PyReader& r) { return r.reader().header().num_shards; })
      .def_property_readonly("endianness", [](const PyReader& r) { return r.reader().header().endianness; })
      .def_property_readonly("version",
                             [](const PyReader& r) {
                               const BundleHeader& h = r.reader().header();
                               return py::make_tuple(h.producer, h.min_consumer, h.bad_consumers);
                             })
      .def("data_path", [](const PyReader& r, int32_t shard) { return r.reader().DataPath(shard); })
      .def("keys", &PyReader::Keys)
      .def("__len__", [](const PyReader& r) { return r.reader().size(); })
      .def("__contains__", &PyReader::Contains)
      .def("info", &PyReader::Info, py::arg("name"))
      .def("load", &PyReader::Load, py::arg("names") = py::none(), py::arg("verify") = false,
           py::arg("copy") = false)
      .def("get", &PyReader::Get, py::arg("name"), py::arg("verify") = false, py::arg("copy") = false)
      .def("verify", &PyReader::Verify, py::arg("names") = py::none())
      .def("close", &PyReader::Close);

  m.def("_set_dtype_table", &SetDtypeTable, py::arg("dtypes"));
  m.def("dtype_name", &DataTypeName, py::arg("dtype"), "TF's name for a DataType enum value, e.g. 'DT_FLOAT'.");
  m.def("dtype_size", &DataTypeSize, py::arg("dtype"), "Bytes per element in a bundle; 0 if not fixed-width.");
  m.def("default_threads", &DefaultThreads);
}

}  // namespace bindings
}  // namespace bundlefast
