// bundlefast bindings: _core.Reader and _core.EntryInfo.
//
// Arguments are converted with the GIL held; then ReadPlan (read_plan.h)
// locates, verifies and decodes with it released; arrays and views are made
// with it held (only after the plan has checked that real bytes back every
// element, so a hostile shape cannot make us allocate); ReadPlan::Fill copies
// with it released again.
#include "reader_py.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "bundle_reader.h"
#include "coding.h"
#include "dtype.h"
#include "dtypes_py.h"
#include "errors.h"
#include "files_py.h"
#include "key_text.h"
#include "names_py.h"
#include "numpy_arrays.h"
#include "parallel.h"
#include "python_source.h"
#include "read_plan.h"
#include "slice_key.h"

namespace py = pybind11;

namespace bundlefast {
namespace bindings {

namespace {

// An entry's metadata, as Reader.info returns it.
struct EntryInfo {
  int32_t dtype;
  std::vector<int64_t> shape;
  int32_t shard;
  int64_t offset;
  int64_t size;
  std::optional<uint32_t> masked_crc32c;
  std::vector<std::vector<std::pair<int64_t, int64_t>>> slices;  // (start, length) per dim; -1: all
};

class PyReader {
 public:
  // `open_file` (a Python callable, see python_source.h) if given, else local
  // files: mapped, or read with pread() when mmap is false.
  PyReader(const std::string& prefix, bool mmap, const py::object& open_file) {
    const SourceOpener open = !open_file.is_none() ? PythonSourceOpener(open_file)
                              : mmap               ? SourceOpener(OpenMappedSource)
                                                   : SourceOpener(OpenFileSource);
    py::gil_scoped_release nogil;
    ThrowIfError(BundleReader::Open(prefix, open, &reader_));
  }

  const BundleReader& reader() const { return *reader_; }

  // The listed keys (slice entries hidden) as str, built once.
  py::list Keys() {
    if (!keys_) {
      const std::vector<size_t>& visible = reader_->visible();
      py::list keys(visible.size());
      for (size_t k = 0; k < visible.size(); ++k) keys[k] = KeyToStr(reader_->key(visible[k]));
      keys_ = std::move(keys);
    }
    return py::reinterpret_borrow<py::list>(keys_);
  }

  // The entry of a listed name (BundleReader::FindListed).
  size_t Index(py::handle name) const {
    size_t i = 0;
    ThrowIfError(reader_->FindListed(NameToKey(name), &i));
    return i;
  }

  bool Contains(py::handle name) const {
    if (!PyUnicode_Check(name.ptr()) && !PyBytes_Check(name.ptr())) return false;
    const int64_t i = reader_->Find(NameToKey(name));
    return i >= 0 && !reader_->hidden(static_cast<size_t>(i));
  }

  EntryInfo Info(py::handle name) const {
    const BundleEntry* e;
    ThrowIfError(reader_->entry(Index(name), &e));
    EntryInfo info{e->dtype, e->shape, e->shard_id, e->offset, e->size, std::nullopt, {}};
    if (e->has_crc32c) info.masked_crc32c = e->masked_crc32c;
    for (const TensorSlice& s : e->slices) {
      info.slices.emplace_back();
      for (const SliceExtent& x : s) info.slices.back().emplace_back(x.start, x.length);
    }
    return info;
  }

  // The entries of `names` (None: every listed tensor).
  std::vector<size_t> Indices(const py::object& names) const {
    if (names.is_none()) return reader_->visible();
    std::vector<size_t> indices;
    for (py::handle n : names) indices.push_back(Index(n));
    return indices;
  }

  py::dict Load(const py::object& names, bool verify, bool copy) {
    std::vector<size_t> given;
    if (!names.is_none()) given = Indices(names);
    const std::vector<size_t>& indices = names.is_none() ? reader_->visible() : given;
    std::vector<py::object> arrays = Read(indices, verify, copy);
    py::dict out;
    if (names.is_none()) {  // reuse the cached key strings
      py::list keys = Keys();
      for (size_t k = 0; k < indices.size(); ++k) out[keys[k]] = std::move(arrays[k]);
    } else {
      for (size_t k = 0; k < indices.size(); ++k) out[KeyToStr(reader_->key(indices[k]))] = std::move(arrays[k]);
    }
    return out;
  }

  py::object Get(py::handle name, bool verify, bool copy) {
    return Read(std::vector<size_t>{Index(name)}, verify, copy)[0];
  }

  ReadRequest RegionRequest(py::handle name, const std::vector<int64_t>& start, const std::vector<int64_t>& stop) const {
    ReadRequest request;
    ThrowIfError(bundlefast::RegionRequest(Index(name), start, stop, &request));
    return request;
  }

  // The region [start, stop) of a tensor (one bound per dimension), as an
  // array of shape `shape` (default stop - start; any shape with as many
  // elements, e.g. without the dimensions an integer index removes).
  py::object ReadRegion(py::handle name, const std::vector<int64_t>& start, const std::vector<int64_t>& stop,
                        const py::object& shape, bool verify, bool copy) {
    const ReadRequest request = RegionRequest(name, start, stop);
    std::optional<std::vector<int64_t>> out_shape;
    if (!shape.is_none()) {
      out_shape = shape.cast<std::vector<int64_t>>();
      uint64_t n = 1;
      bool ok = out_shape->size() <= static_cast<size_t>(kMaxRank);
      for (int64_t d : *out_shape) ok = ok && d >= 0 && CheckedMul(n, static_cast<uint64_t>(d), &n);
      if (!ok) ThrowIfError(Status::InvalidArgument("shape must hold at most 254 non-negative dimensions"));
    }
    return Read(std::vector<ReadRequest>{request}, verify, copy, out_shape ? &*out_shape : nullptr,
                /*release_views=*/true)[0];
  }

  // (shard, offset, size) per byte range that load(names) -- or, with start
  // and stop, read_region(name, start, stop) -- would read, per shard in file
  // order: remote sources fetch them all in one batch first (_sources.py).
  std::vector<std::tuple<int32_t, uint64_t, uint64_t>> Fetches(const py::object& names, const py::object& start,
                                                               const py::object& stop, bool verify) {
    std::vector<ReadRequest> requests;
    std::vector<size_t> indices;
    if (start.is_none()) {
      indices = Indices(names);
    } else {
      requests.push_back(RegionRequest(names, start.cast<std::vector<int64_t>>(), stop.cast<std::vector<int64_t>>()));
    }
    std::vector<ReadPlan::Fetch> fetches;
    {
      py::gil_scoped_release nogil;
      std::unique_ptr<ReadPlan> plan;
      const ReadOptions options{verify, true, true, 1};
      ThrowIfError(requests.empty() ? ReadPlan::Make(reader_.get(), indices, options, &plan)
                                    : ReadPlan::Make(reader_.get(), requests, options, &plan));
      fetches = plan->Fetches();
    }
    std::vector<std::tuple<int32_t, uint64_t, uint64_t>> out;
    out.reserve(fetches.size());
    for (const ReadPlan::Fetch& f : fetches) out.emplace_back(f.shard, f.offset, f.size);
    return out;
  }

  void Verify(const py::object& names) {
    const std::vector<size_t> indices = Indices(names);
    py::gil_scoped_release nogil;
    ThrowIfError(VerifyTensors(reader_.get(), indices, DefaultThreads()));
  }

  // The whole of tensor `name` straight into `out`: a writable, C-contiguous
  // buffer of exactly the tensor's bytes (ReadTensorInto).
  void ReadInto(py::handle name, const py::object& out, bool verify) {
    const size_t index = Index(name);
    Py_buffer buffer;
    if (PyObject_GetBuffer(out.ptr(), &buffer, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) != 0) {
      throw py::error_already_set();
    }
    std::unique_ptr<Py_buffer, void (*)(Py_buffer*)> release(&buffer, PyBuffer_Release);
    py::gil_scoped_release nogil;
    ThrowIfError(ReadTensorInto(reader_.get(), index, static_cast<char*>(buffer.buf),
                                static_cast<uint64_t>(buffer.len), verify, DefaultThreads()));
  }

  void Close() {
    reader_->Close();
    handles_.clear();
    last_source_ = nullptr;
    last_handle_ = py::object();
  }

 private:
  // The owner of views into `source`. Consecutive tensors are nearly always in
  // the same shard: skip the lookup and the pybind11 cast (~60 ns a tensor).
  // last_handle_ keeps that source alive, so its address cannot be reused.
  py::handle Owner(const std::shared_ptr<const ByteSource>& source) {
    if (last_handle_ && last_source_ == source.get()) return last_handle_;
    py::object& h = handles_[source.get()];
    if (!h) h = MappedFileObject(source);
    last_source_ = source.get();
    last_handle_ = h;
    return h;
  }

  // When a read fills results of ArenaMinBytes() or more in all, they share
  // one Arena (fresh, or one a past read freed: arena.h says why), each at an
  // aligned offset in result order: its owner, or None. One big result takes
  // an arena too: NumPy's allocator maps and unmaps blocks past glibc's 32 MiB
  // ceiling on every call, so a stream of big reads (Dask chunks read with
  // pread) would fault in fresh memory for each one.
  static py::object FillArena(const ReadPlan& plan) {
    uint64_t bytes = 0;
    size_t filled = 0;
    for (size_t k = 0; k < plan.size(); ++k) {
      if (plan.elementwise(k) || plan.view(k)) continue;
      bytes += Arena::Aligned(plan.ResultBytes(k));  // bytes the files hold: no overflow
      ++filled;
    }
    if (filled == 0 || bytes == 0 || bytes < ArenaMinBytes()) return py::none();
    std::unique_ptr<Arena> arena;
    {
      py::gil_scoped_release nogil;  // mmap and munmap of the slack
      arena = Arena::Take(bytes);
    }
    return ArenaOwner(std::move(arena));
  }

  // Reads `requests` (whole entries, or ReadRequests): one array per result.
  // Region reads (release_views) give each big view its own owner, which
  // hands its pages back when it dies (ReleasingViewOwner); other views share
  // their shard's owner.
  template <typename Requests>
  std::vector<py::object> Read(const Requests& requests, bool verify, bool copy,
                               const std::vector<int64_t>* out_shape = nullptr, bool release_views = false) {
    std::unique_ptr<ReadPlan> plan;
    {
      py::gil_scoped_release nogil;
      ThrowIfError(ReadPlan::Make(reader_.get(), requests, ReadOptions{verify, copy, true, DefaultThreads()}, &plan));
      ThrowIfError(plan->Prepare());
    }
    std::vector<py::object> arrays(plan->size());
    std::vector<char*> dst(plan->size(), nullptr);
    py::object arena = FillArena(*plan);  // None: one result, or none to fill
    uint64_t arena_used = 0;
    for (size_t k = 0; k < plan->size(); ++k) {
      const std::vector<int64_t>& shape = out_shape ? *out_shape : plan->shape(k);
      if (out_shape && plan->num_elements(k) != FullBox(*out_shape).NumElements()) {
        ThrowIfError(Status::InvalidArgument("shape " + ShapeString(*out_shape) + " does not hold the " +
                                             std::to_string(plan->num_elements(k)) + " elements of the region"));
      }
      const int itemsize = plan->itemsize(k);
      const Status shape_ok = CheckArrayShape(shape, itemsize > 0 ? itemsize : static_cast<int>(sizeof(PyObject*)));
      if (!shape_ok.ok()) ThrowIfError(shape_ok.WithContext(reader_->Where(plan->index(k))));  // built only on error
      if (plan->elementwise(k)) {
        arrays[k] = MakeBytesArray(*plan, k, shape);
        if (!copy) MakeReadOnly(arrays[k]);  // not a view, but read-only like one
        continue;
      }
      py::handle descr = NumpyDtype(plan->entry(k).dtype);
      if (descr.is_none()) {
        ThrowIfError(Status::NotSupported(reader_->Where(plan->index(k)) + " has dtype " +
                                          DataTypeName(plan->entry(k).dtype) +
                                          ", which has no NumPy equivalent here (is ml_dtypes installed and recent?)"));
      }
      if (plan->view(k)) {
        const uint64_t bytes = plan->ResultBytes(k);
        if (release_views && bytes >= kReleaseViewMinBytes) {
          arrays[k] = MakeView(descr, shape, plan->view(k),
                               ReleasingViewOwner(plan->view_source(k), plan->view(k), bytes));
        } else {
          arrays[k] = MakeView(descr, shape, plan->view(k), Owner(plan->view_source(k)));
        }
      } else if (!arena.is_none()) {
        dst[k] = OwnedArena(arena).data() + arena_used;
        arena_used += Arena::Aligned(plan->ResultBytes(k));
        arrays[k] = MakeInArena(descr, shape, dst[k], arena);
      } else {
        arrays[k] = MakeEmpty(descr, shape);
        dst[k] = ArrayData(arrays[k]);
      }
    }
    {
      py::gil_scoped_release nogil;
      if (!arena.is_none()) OwnedArena(arena).Populate(DefaultThreads());
      ThrowIfError(plan->Fill(dst));
    }
    // Filled arrays are read-only like views unless the caller asked for copies.
    for (size_t k = 0; k < plan->size() && !copy; ++k) {
      if (dst[k]) MakeReadOnly(arrays[k]);
    }
    return arrays;
  }

  std::unique_ptr<BundleReader> reader_;
  py::object keys_;
  std::unordered_map<const ByteSource*, py::object> handles_;
  const ByteSource* last_source_ = nullptr;  // the source of last_handle_ (Owner's fast path)
  py::object last_handle_;
};

// Test hook: EncodeTensorNameSlice(name, [(start, length), ...]).
py::bytes EncodeSliceKey(const py::bytes& name, const std::vector<std::pair<int64_t, int64_t>>& extents) {
  TensorSlice slice;
  for (const auto& [start, length] : extents) slice.push_back(SliceExtent{start, length});
  return py::bytes(EncodeTensorNameSlice(std::string(name), slice));
}

}  // namespace

void RegisterReader(py::module_& m) {
  py::class_<EntryInfo>(m, "EntryInfo", "One index entry's metadata (Reader.info).")
      .def_readonly("dtype", &EntryInfo::dtype, "the DataType enum value")
      .def_readonly("shape", &EntryInfo::shape)
      .def_readonly("shard", &EntryInfo::shard)
      .def_readonly("offset", &EntryInfo::offset)
      .def_readonly("size", &EntryInfo::size)
      .def_readonly("masked_crc32c", &EntryInfo::masked_crc32c, "the stored masked CRC32C, or None")
      .def_readonly("slices", &EntryInfo::slices, "per stored slice, (start, length) per dimension; -1: all");

  py::class_<PyReader>(m, "Reader", "An opened tensor bundle (see bundlefast.open).")
      .def(py::init<const std::string&, bool, const py::object&>(), py::arg("prefix"), py::arg("mmap") = true,
           py::arg("open_file") = py::none())
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
      .def("__len__", [](const PyReader& r) { return r.reader().visible().size(); })
      .def("__contains__", &PyReader::Contains)
      .def("info", &PyReader::Info, py::arg("name"))
      .def("load", &PyReader::Load, py::arg("names") = py::none(), py::arg("verify") = false,
           py::arg("copy") = false)
      .def("get", &PyReader::Get, py::arg("name"), py::arg("verify") = false, py::arg("copy") = false)
      .def("read_region", &PyReader::ReadRegion, py::arg("name"), py::arg("start"), py::arg("stop"),
           py::arg("shape") = py::none(), py::arg("verify") = false, py::arg("copy") = false)
      .def("read_into", &PyReader::ReadInto, py::arg("name"), py::arg("out"), py::arg("verify") = false)
      .def("verify", &PyReader::Verify, py::arg("names") = py::none())
      .def("fetches", &PyReader::Fetches, py::arg("names") = py::none(), py::arg("start") = py::none(),
           py::arg("stop") = py::none(), py::arg("verify") = false)
      .def("close", &PyReader::Close);

  m.def("encode_slice_key", &EncodeSliceKey, py::arg("name"), py::arg("extents"),
        "TF's EncodeTensorNameSlice: the index key of one slice; a full dimension is (0, -1).");
  m.def("default_threads", &DefaultThreads);
}

}  // namespace bindings
}  // namespace bundlefast
