// bundlefast bindings: _core.list_entries(prefix), what `bundlefast ls` prints,
// in one call.
//
// Why a separate call: `ls` of a 50,000-tensor checkpoint through Reader.info
// built a TensorInfo (and an EntryInfo, and a data path) per tensor, which cost
// ~10x the index parse itself. This opens the index (the same BundleReader::Open
// as _core.Reader, so the same errors), maps no data shard, and returns plain
// columns: one list per field, in the reader's key order (slice entries of
// partitioned tensors hidden, as Reader.keys()).
#include "listing_py.h"

#include <cstdint>
#include <memory>
#include <string>

#include "bundle_entry.h"
#include "bundle_reader.h"
#include "byte_source.h"
#include "dtype.h"
#include "errors.h"
#include "names_py.h"

namespace py = pybind11;

namespace bundlefast {
namespace bindings {

namespace {

py::object Int(int64_t v) { return py::reinterpret_steal<py::object>(PyLong_FromLongLong(v)); }

// Bytes a tensor occupies in the data files. A partitioned tensor's slices hold
// exactly its elements (fixed-width dtypes; strings: unknown without reading, 0),
// multiplied as Python ints: a hostile shape may not fit int64 once multiplied.
py::object StoredBytes(const BundleEntry& e) {
  if (e.slices.empty()) return Int(e.size);
  return Int(static_cast<int64_t>(NumElements(e))) * Int(DataTypeSize(e.dtype));
}

py::dict ListEntries(const std::string& prefix) {
  std::unique_ptr<BundleReader> reader;
  {
    py::gil_scoped_release nogil;
    ThrowIfError(BundleReader::Open(prefix, OpenMappedSource, &reader));
  }
  const std::vector<size_t>& visible = reader->visible();
  const size_t n = visible.size();
  py::list names(n), dtypes(n), shapes(n), stored(n), shards(n), slices(n);
  for (size_t k = 0; k < n; ++k) {
    const BundleEntry* e;
    ThrowIfError(reader->entry(visible[k], &e));
    names[k] = KeyToStr(reader->key(visible[k]));
    dtypes[k] = Int(e->dtype);
    py::tuple shape(e->shape.size());
    for (size_t d = 0; d < e->shape.size(); ++d) shape[d] = Int(e->shape[d]);
    shapes[k] = std::move(shape);
    stored[k] = StoredBytes(*e);
    shards[k] = Int(e->slices.empty() ? e->shard_id : -1);
    slices[k] = Int(static_cast<int64_t>(e->slices.size()));
  }
  py::dict out;
  out["prefix"] = reader->prefix();
  out["num_shards"] = reader->header().num_shards;
  out["names"] = names;
  out["dtypes"] = dtypes;
  out["shapes"] = shapes;
  out["stored_bytes"] = stored;
  out["shards"] = shards;
  out["slices"] = slices;
  return out;
}

}  // namespace

void RegisterListing(py::module_& m) {
  m.def("list_entries", &ListEntries, py::arg("prefix"),
        "The listing of the bundle at `prefix` in columns (names, dtypes as DataType values, "
        "shapes, stored_bytes, shards (-1 for a partitioned tensor), slices), with prefix "
        "and num_shards; reads the index only.");
}

}  // namespace bindings
}  // namespace bundlefast
