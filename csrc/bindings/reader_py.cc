// bundlefast bindings: _core.Reader and _core.MappedFile.
//
// GIL policy: Python arguments are converted first; opening, locating,
// checksumming, string parsing, slice planning and copying run with the GIL
// released; arrays and other Python objects are built with it held.
//
// Every read goes through four phases (Read): locate + verify + decode with
// the GIL released; allocate or view with it held; copy with it released;
// mark read-only with it held. Arrays are allocated only after phase 1 has
// checked that real bytes back every element, so a hostile shape cannot make
// us allocate memory the files do not account for.
#include "reader_py.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "bundle_reader.h"
#include "coding.h"
#include "dtype.h"
#include "errors.h"
#include "numpy_arrays.h"
#include "parallel.h"
#include "payload.h"
#include "sigbus_guard.h"
#include "slice_key.h"
#include "slices.h"

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

// The error names entry `index` of `reader`; that string is built only on
// failure (this runs once per tensor: ~50k times for a big model).
py::handle NumpyDtype(int32_t dtype, const BundleReader& reader, size_t index) {
  const std::vector<PyObject*>& table = DtypeTable();
  if (dtype < 0 || static_cast<size_t>(dtype) >= table.size() || table[static_cast<size_t>(dtype)] == Py_None) {
    ThrowIfError(Status::NotSupported(reader.Where(index) + " has dtype " + DataTypeName(dtype) +
                                      ", which has no NumPy equivalent here (is ml_dtypes installed and recent?)"));
  }
  return table[static_cast<size_t>(dtype)];
}

py::object KeyToStr(const std::string& key) {
  // Nearly every key is ASCII: then the str is a copy of the bytes, made
  // without the decoder (keys are built once per reader, ~50k of them).
  unsigned char bits = 0;
  for (const char c : key) bits |= static_cast<unsigned char>(c);  // vectorizes, unlike an early exit
  if (bits < 0x80) {
    PyObject* s = PyUnicode_New(static_cast<Py_ssize_t>(key.size()), 0x7f);
    if (!s) throw py::error_already_set();
    std::memcpy(PyUnicode_DATA(s), key.data(), key.size());
    return py::reinterpret_steal<py::object>(s);
  }
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

// Test hook: EncodeTensorNameSlice(name, [(start, length), ...]).
py::bytes EncodeSliceKey(const py::bytes& name, const std::vector<std::pair<int64_t, int64_t>>& extents) {
  TensorSlice slice;
  for (const auto& [start, length] : extents) slice.push_back(SliceExtent{start, length});
  const std::string key = EncodeTensorNameSlice(std::string(name), slice);
  return py::bytes(key);
}

// One element of a string or variant tensor, about to become a Python bytes.
struct ElementBytes {
  const char* data;
  uint64_t size;
};

// Elements of one thread's work list are copied to at least this many bytes
// at a time, so a big region is shared by the threads.
constexpr uint64_t kCopyChunkBytes = 4ull << 20;

// A region read (ReadRegion), or the whole of a partitioned tensor: the
// stored pieces that hold it.
struct Region {
  bool given = false;  // asked for by the caller (the result may then be a view)
  Box request;         // the region: given, or the full box of a partitioned tensor
  bool has_out_shape = false;
  std::vector<int64_t> out_shape;  // the array's shape if given, else request.size
  // Filled by Prepare, with the GIL released:
  std::vector<BundleReader::Piece> pieces;
  std::vector<std::vector<StringRef>> piece_refs;  // STRING/VARIANT: per piece
  std::vector<ElementBytes> elements;              // STRING/VARIANT: gathered in request order
};

// One tensor being read. Kept small: `load` of 50k tensors makes 50k of them,
// and almost all are the whole of an ordinary tensor (no region).
struct Item {
  size_t index = 0;  // a visible entry
  std::unique_ptr<Region> region;  // null: the whole of an ordinary tensor
  // Filled by Prepare, with the GIL released:
  const BundleEntry* entry = nullptr;
  BundleReader::Payload payload;  // no region: the tensor's bytes
  std::vector<StringRef> refs;    // no region, STRING/VARIANT: element byte ranges in `payload`
};

// The error for a guarded read at `p` that faulted (the data file shrank
// after it was mapped): names the file and the tensor or slice holding `p`.
Status FaultIn(const BundleReader& reader, size_t index, const BundleReader::Payload& payload, const char* p,
               bool* found) {
  *found = payload.entry != nullptr && p >= payload.data &&
           p <= payload.data + static_cast<uint64_t>(payload.entry->size);
  if (!*found) return Status::OK();
  return MappedReadFault(payload.file->path(), reader.Name(index), static_cast<uint64_t>(payload.entry->offset),
                         static_cast<uint64_t>(payload.entry->size));
}

Status FaultAt(const BundleReader& reader, const Item& item, const char* p) {
  bool found;
  Status s = FaultIn(reader, item.index, item.payload, p, &found);
  const size_t pieces = item.region ? item.region->pieces.size() : 0;
  for (size_t k = 0; !found && k < pieces; ++k) {
    const BundleReader::Piece& piece = item.region->pieces[k];
    s = FaultIn(reader, piece.index, piece.payload, p, &found);
  }
  return s;
}

Status FaultAt(const BundleReader& reader, const std::vector<Item>& items, const char* p) {
  for (const Item& item : items) {
    Status s = FaultAt(reader, item, p);
    if (!s.ok()) return s;
  }
  return Status::IOError(reader.prefix() + ": a data file was truncated after it was opened (SIGBUS)", EIO,
                         reader.prefix());
}

// A region of a piece to copy into an output array (phase 3).
struct RegionCopy {
  char* dst;
  const Box* dst_box;
  const char* src;
  const Box* src_box;
  Box region;
  int itemsize;
  int swap_unit;
};

class PyReader {
 public:
  explicit PyReader(const std::string& prefix) {
    py::gil_scoped_release nogil;
    ThrowIfError(BundleReader::Open(prefix, &reader_));
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

  // The entry of a listed name. Hidden slice entries are not found, so that
  // keys(), `in` and [] agree (a Mapping), as in TF's CheckpointReader.
  size_t Index(py::handle name) const {
    const std::string key = NameToKey(name);
    const int64_t i = reader_->Find(key);
    if (i < 0 || reader_->hidden(static_cast<size_t>(i))) {
      const std::string what = i < 0 ? " not found in " : " is a slice entry of a partitioned tensor in ";
      // The key's bytes, not str(name): a name holding a lone surrogate (how
      // non-UTF-8 keys are spelled) has no UTF-8 form to cast to.
      ThrowIfError(Status::NotFound("tensor '" + key + "'" + what +
                                    reader_->index_path() +
                                    (i < 0 ? "" : "; read the partitioned tensor by its own name")));
    }
    return static_cast<size_t>(i);
  }

  bool Contains(py::handle name) const {
    if (!PyUnicode_Check(name.ptr()) && !PyBytes_Check(name.ptr())) return false;
    const int64_t i = reader_->Find(NameToKey(name));
    return i >= 0 && !reader_->hidden(static_cast<size_t>(i));
  }

  size_t Size() const { return reader_->visible().size(); }

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

  std::vector<Item> Items(const py::object& names) {
    std::vector<Item> items;
    if (names.is_none()) {
      const std::vector<size_t>& visible = reader_->visible();
      items.resize(visible.size());
      for (size_t k = 0; k < visible.size(); ++k) items[k].index = visible[k];
    } else {
      for (py::handle n : names) {
        items.emplace_back();
        items.back().index = Index(n);
      }
    }
    return items;
  }

  py::dict Load(const py::object& names, bool verify, bool copy) {
    std::vector<Item> items = Items(names);
    std::vector<py::object> arrays = Read(&items, verify, copy);
    py::dict out;
    if (names.is_none()) {  // reuse the cached key strings
      py::list keys = Keys();
      for (size_t k = 0; k < items.size(); ++k) out[keys[k]] = std::move(arrays[k]);
    } else {
      for (size_t k = 0; k < items.size(); ++k) out[KeyToStr(reader_->key(items[k].index))] = std::move(arrays[k]);
    }
    return out;
  }

  py::object Get(py::handle name, bool verify, bool copy) {
    std::vector<Item> items(1);
    items[0].index = Index(name);
    return Read(&items, verify, copy)[0];
  }

  // The region [start, stop) of a tensor (one bound per dimension), as an
  // array of shape `shape` (default stop - start; any shape with as many
  // elements, e.g. without the dimensions an integer index removes). Reads
  // only the bytes needed: a contiguous region of one stored piece is a
  // zero-copy view unless copy or byte swapping is asked for; only the stored
  // slices that intersect the region are located, verified and copied.
  py::object ReadRegion(py::handle name, const std::vector<int64_t>& start, const std::vector<int64_t>& stop,
                        const py::object& shape, bool verify, bool copy) {
    std::vector<Item> items(1);
    Item& item = items[0];
    item.index = Index(name);
    item.region = std::make_unique<Region>();
    Region& region = *item.region;
    region.given = true;
    if (start.size() != stop.size()) throw py::value_error("start and stop must have one bound per dimension");
    region.request.start = start;
    region.request.size.resize(start.size());
    for (size_t d = 0; d < start.size(); ++d) {
      // A negative size is refused by PlanRegion; avoid overflowing here.
      region.request.size[d] = stop[d] >= start[d] && start[d] >= 0 ? stop[d] - start[d] : -1;
    }
    if (!shape.is_none()) {
      region.has_out_shape = true;
      region.out_shape = shape.cast<std::vector<int64_t>>();
      uint64_t n = 1;
      bool ok = region.out_shape.size() <= static_cast<size_t>(kMaxRank);
      for (int64_t d : region.out_shape) ok = ok && d >= 0 && CheckedMul(n, static_cast<uint64_t>(d), &n);
      // Compared with the request once PlanRegion has validated it (Read).
      if (!ok) throw py::value_error("shape must hold at most 254 non-negative dimensions");
    }
    return Read(&items, verify, copy)[0];
  }

  void Verify(const py::object& names) {
    std::vector<Item> items = Items(names);
    py::gil_scoped_release nogil;
    Prepare(&items, /*verify=*/true);
  }

  void Close() {
    reader_->Close();
    shard_handles_.clear();
    sparse_shard_handles_.clear();
    last_file_ = nullptr;
    last_handle_ = py::object();
  }

 private:
  // Phase 1, with the GIL released: locate every payload (or plan the
  // pieces of a region), verify checksums, parse strings and variants.
  void Prepare(std::vector<Item>* items, bool verify) {
    EnsureSigbusHandler();  // before any guarded read of this call (sigbus_guard.h)
    for (Item& item : *items) {
      ThrowIfError(reader_->entry(item.index, &item.entry));
      if (!item.region && item.entry->slices.empty()) {
        ThrowIfError(reader_->Locate(item.index, &item.payload));
        continue;
      }
      if (!item.region) {
        item.region = std::make_unique<Region>();
        item.region->request = FullBox(item.entry->shape);
      }
      ThrowIfError(reader_->PlanRegion(item.index, item.region->request, &item.region->pieces));
    }
    const int threads = DefaultThreads();
    // Every stored payload once, with its entry and where its element refs go.
    struct Stored {
      size_t index;
      const BundleReader::Payload* payload;
      std::vector<StringRef>* refs;
    };
    std::vector<Stored> all;
    all.reserve(items->size());
    for (Item& item : *items) {
      if (!item.region) {
        all.push_back(Stored{item.index, &item.payload, &item.refs});
        continue;
      }
      Region& region = *item.region;
      if (DataTypeSize(item.entry->dtype) == 0) region.piece_refs.resize(region.pieces.size());
      for (size_t p = 0; p < region.pieces.size(); ++p) {
        all.push_back(Stored{region.pieces[p].index, &region.pieces[p].payload,
                             region.piece_refs.empty() ? nullptr : &region.piece_refs[p]});
      }
    }
    if (verify) {  // fixed-width payloads; strings and variants below
      std::vector<size_t> indices;
      std::vector<const BundleReader::Payload*> payloads;
      indices.reserve(all.size());
      payloads.reserve(all.size());
      for (const Stored& a : all) {
        indices.push_back(a.index);
        payloads.push_back(a.payload);
      }
      ThrowIfError(reader_->VerifyPayloads(indices, payloads, threads));
    }
    std::vector<const Stored*> elementwise;
    for (const Stored& a : all) {
      const int32_t dtype = a.payload->entry->dtype;
      if (dtype == DT_STRING || dtype == DT_VARIANT) elementwise.push_back(&a);
    }
    std::vector<Status> errors(elementwise.size());
    ParallelFor(elementwise.size(), threads, [&](size_t j) {
      const Stored& a = *elementwise[j];
      errors[j] = reader_->DecodeElements(a.index, *a.payload, verify, a.refs);
    });
    for (const Status& s : errors) ThrowIfError(s);
    for (Item& item : *items) {
      if (item.region && DataTypeSize(item.entry->dtype) == 0) Gather(item.region.get());
    }
  }

  // The elements of a region of a string/variant tensor, in row-major order
  // of the request, from the pieces that hold them.
  static void Gather(Region* region) {
    region->elements.assign(static_cast<size_t>(region->request.NumElements()), ElementBytes{nullptr, 0});
    for (size_t p = 0; p < region->pieces.size(); ++p) {
      const BundleReader::Piece& piece = region->pieces[p];
      const std::vector<StringRef>& refs = region->piece_refs[p];
      ForEachRun(region->request, piece.stored, piece.overlap, [&](uint64_t d, uint64_t s, uint64_t n) {
        for (uint64_t t = 0; t < n; ++t) {
          const StringRef& r = refs[static_cast<size_t>(s + t)];
          region->elements[static_cast<size_t>(d + t)] = ElementBytes{piece.payload.data + r.offset, r.length};
        }
      });
    }
  }

  py::object ShardHandle(const BundleReader::Payload& p) {
    // Consecutive tensors are nearly always in the same shard: skip the
    // lookup and the pybind11 cast (~60 ns a tensor). last_handle_ keeps that
    // MappedFile alive, so the pointer cannot be reused by another mapping.
    if (last_handle_ && last_file_ == p.file.get()) return last_handle_;
    const int32_t shard = p.entry->shard_id;
    if (shard < 64 && shard_handles_.size() <= static_cast<size_t>(shard)) {
      shard_handles_.resize(static_cast<size_t>(shard) + 1);
    }
    // A vector for the usual few shards, a map for the rest (ids may be huge).
    py::object& h = shard < 64 ? shard_handles_[static_cast<size_t>(shard)] : sparse_shard_handles_[shard];
    if (!h || h.cast<const MappedFileHandle&>().file != p.file) h = py::cast(MappedFileHandle{p.file});
    last_file_ = p.file.get();
    last_handle_ = h;
    return h;
  }

  std::vector<py::object> Read(std::vector<Item>* items, bool verify, bool copy) {
    {
      py::gil_scoped_release nogil;
      Prepare(items, verify);
    }
    // Phase 2, with the GIL: views, or arrays to copy into.
    const bool swap = reader_->needs_byte_swap();
    std::vector<py::object> arrays(items->size());
    std::vector<CopyJob> jobs;
    std::vector<RegionCopy> region_jobs;
    std::vector<size_t> copied;
    for (size_t k = 0; k < items->size(); ++k) {
      Item& item = (*items)[k];
      const BundleEntry& e = *item.entry;
      Region* region = item.region.get();
      if (region && !region->has_out_shape) {
        region->out_shape = region->request.size;
      } else if (region) {
        uint64_t out_n = 1;
        for (int64_t d : region->out_shape) out_n *= static_cast<uint64_t>(d);  // checked in ReadRegion
        if (out_n != region->request.NumElements()) {
          ThrowIfError(Status::InvalidArgument("shape " + ShapeString(region->out_shape) + " does not hold the " +
                                               std::to_string(region->request.NumElements()) +
                                               " elements of region " + BoxString(region->request)));
        }
      }
      const std::vector<int64_t>& out_shape = region ? region->out_shape : e.shape;
      const int itemsize = DataTypeSize(e.dtype);  // 0: STRING or VARIANT (Locate refused the rest)
      const int array_itemsize = itemsize > 0 ? itemsize : static_cast<int>(sizeof(PyObject*));
      Status shape_ok = CheckArrayShape(out_shape, array_itemsize);
      if (!shape_ok.ok()) ThrowIfError(shape_ok.WithContext(reader_->Where(item.index)));  // built only on error
      if (itemsize == 0) {  // STRING, VARIANT
        arrays[k] = ObjectArray(*reader_, item, out_shape);
        if (!copy) copied.push_back(k);  // not a view, but read-only like one
        continue;
      }
      py::handle descr = NumpyDtype(e.dtype, *reader_, item.index);
      const int unit = swap ? DataTypeSwapUnit(e.dtype) : 1;
      if (!region) {
        if (copy || swap) {
          // A big-endian bundle is returned in native order, which needs a copy.
          arrays[k] = MakeEmpty(descr, out_shape);
          jobs.push_back(CopyJob{ArrayData(arrays[k]), item.payload.data, static_cast<uint64_t>(e.size), unit,
                                 item.payload.file.get()});
          copied.push_back(k);
        } else {
          arrays[k] = MakeView(descr, out_shape, item.payload.data, ShardHandle(item.payload));
        }
        continue;
      }
      // A region, or a partitioned tensor (always an owned array). A region
      // that is one contiguous run of one stored piece can be a view.
      uint64_t first = 0;
      if (region->given && !copy && !swap && region->pieces.size() == 1 &&
          ContiguousIn(region->pieces[0].overlap, region->pieces[0].stored, &first)) {
        const BundleReader::Payload& p = region->pieces[0].payload;
        arrays[k] = MakeView(descr, out_shape, p.data + first * static_cast<uint64_t>(itemsize), ShardHandle(p));
        continue;
      }
      arrays[k] = MakeEmpty(descr, out_shape);
      char* dst = ArrayData(arrays[k]);
      const uint64_t chunk = kCopyChunkBytes / static_cast<uint64_t>(itemsize);
      for (const BundleReader::Piece& piece : region->pieces) {
        for (Box& part : SplitRegion(piece.overlap, chunk)) {
          region_jobs.push_back(RegionCopy{dst, &region->request, piece.payload.data, &piece.stored,
                                           std::move(part), itemsize, unit});
        }
      }
      copied.push_back(k);
    }
    // Phase 3, without the GIL: fill the arrays (disjoint destinations).
    if (!jobs.empty() || !region_jobs.empty()) {
      py::gil_scoped_release nogil;
      const int threads = DefaultThreads();
      size_t faulted;
      if (!CopyRanges(jobs, threads, &faulted)) ThrowIfError(FaultAt(*reader_, *items, jobs[faulted].src));
      std::vector<unsigned char> region_fault(region_jobs.size(), 0);
      ParallelFor(region_jobs.size(), threads, [&](size_t j) {
        const RegionCopy& c = region_jobs[j];
        region_fault[j] = !CopyRegion(c.dst, *c.dst_box, c.src, *c.src_box, c.region, c.itemsize, c.swap_unit);
      });
      for (size_t j = 0; j < region_jobs.size(); ++j) {
        if (region_fault[j]) ThrowIfError(FaultAt(*reader_, *items, region_jobs[j].src));
      }
    }
    // Phase 4: copies are read-only too unless the caller asked for copies.
    if (!copy) {
      for (size_t k : copied) MakeReadOnly(arrays[k]);
    }
    return arrays;
  }

  // An object array of bytes, as TF's get_tensor returns for DT_STRING (and
  // the serialized VariantTensorDataProtos of a DT_VARIANT tensor).
  static py::object ObjectArray(const BundleReader& reader, const Item& item, const std::vector<int64_t>& shape) {
    static py::object object_dtype = py::dtype("O");
    py::object arr = MakeEmpty(object_dtype, shape);
    auto** slots = reinterpret_cast<PyObject**>(ArrayData(arr));
    const Region* region = item.region.get();
    const size_t n = region ? region->elements.size() : item.refs.size();
    for (size_t j = 0; j < n; ++j) {
      const char* data;
      uint64_t size;
      if (!region) {
        data = item.payload.data + item.refs[j].offset;
        size = item.refs[j].length;
      } else {
        data = region->elements[j].data;
        size = region->elements[j].size;
      }
      // Allocate first, then copy under the guard: these bytes may be read here
      // for the first time, in a mapped file that can have shrunk since.
      PyObject* b = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(size));
      if (!b) throw py::error_already_set();
      char* dst = PyBytes_AS_STRING(b);
      if (!GuardMappedRead(data, size, [&] { std::memcpy(dst, data, static_cast<size_t>(size)); })) {
        Py_DECREF(b);
        ThrowIfError(FaultAt(reader, item, data));
      }
      Py_XDECREF(slots[j]);  // NumPy fills new object arrays with None or NULL
      slots[j] = b;
    }
    return arr;
  }

  std::unique_ptr<BundleReader> reader_;
  py::object keys_;
  std::vector<py::object> shard_handles_;
  std::unordered_map<int32_t, py::object> sparse_shard_handles_;
  const MappedFile* last_file_ = nullptr;  // the file of last_handle_ (ShardHandle's fast path)
  py::object last_handle_;
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
      .def("__len__", &PyReader::Size)
      .def("__contains__", &PyReader::Contains)
      .def("info", &PyReader::Info, py::arg("name"))
      .def("load", &PyReader::Load, py::arg("names") = py::none(), py::arg("verify") = false,
           py::arg("copy") = false)
      .def("get", &PyReader::Get, py::arg("name"), py::arg("verify") = false, py::arg("copy") = false)
      .def("read_region", &PyReader::ReadRegion, py::arg("name"), py::arg("start"), py::arg("stop"),
           py::arg("shape") = py::none(), py::arg("verify") = false, py::arg("copy") = false)
      .def("verify", &PyReader::Verify, py::arg("names") = py::none())
      .def("close", &PyReader::Close);

  m.def("_set_dtype_table", &SetDtypeTable, py::arg("dtypes"));
  m.def("encode_slice_key", &EncodeSliceKey, py::arg("name"), py::arg("extents"),
        "TF's EncodeTensorNameSlice: the index key of one slice; a full dimension is (0, -1).");
  m.def("dtype_name", &DataTypeName, py::arg("dtype"), "TF's name for a DataType enum value, e.g. 'DT_FLOAT'.");
  m.def("dtype_size", &DataTypeSize, py::arg("dtype"), "Bytes per element in a bundle; 0 if not fixed-width.");
  m.def("default_threads", &DefaultThreads);
}

}  // namespace bindings
}  // namespace bundlefast
