// bundlefast bindings: _core.MappedFile and _core.table_kind (see files_py.h).
#include "files_py.h"

#include <algorithm>
#include <string>
#include <utility>

#include "file_source.h"
#include "table.h"

namespace py = pybind11;

namespace bundlefast {
namespace bindings {

namespace {
struct MappedFileHandle {
  std::shared_ptr<const ByteSource> source;
};

// What the file at `path` is (table.h SniffTable): "v1", "v2", "sstable", or
// None for anything else, including a file that cannot be read.
py::object TableKindOf(const std::string& path) {
  TableKind kind = TableKind::kNotTable;
  {
    py::gil_scoped_release nogil;
    std::shared_ptr<const ByteSource> file;
    std::string head, tail(8, '\0');
    if (OpenFileSource(path, &file).ok() && file->size() >= 8) {
      head.resize(static_cast<size_t>(std::min<uint64_t>(64, file->size())));
      if (file->Read(0, head.size(), head.data()).ok() && file->Read(file->size() - 8, 8, tail.data()).ok()) {
        kind = SniffTable(head, tail, file->size());
      }
    }
  }
  switch (kind) {
    case TableKind::kV1Checkpoint: return py::str("v1");
    case TableKind::kV2Index: return py::str("v2");
    case TableKind::kOtherTable: return py::str("sstable");
    case TableKind::kNotTable: break;
  }
  return py::none();
}
}  // namespace

py::object MappedFileObject(std::shared_ptr<const ByteSource> source) {
  return py::cast(MappedFileHandle{std::move(source)});
}

namespace {
struct RegionView {
  std::shared_ptr<const ByteSource> source;
  const char* data;
  uint64_t n;
};
}  // namespace

py::object ReleasingViewOwner(std::shared_ptr<const ByteSource> source, const char* data, uint64_t n) {
  auto view = std::make_unique<RegionView>(RegionView{std::move(source), data, n});
  py::capsule owner(view.get(), "bundlefast.region_view", [](PyObject* capsule) {
    auto* v = static_cast<RegionView*>(PyCapsule_GetPointer(capsule, "bundlefast.region_view"));
    if (v == nullptr) return;
    v->source->ReleaseView(v->data, v->n);  // under the GIL: a madvise, microseconds per MiB
    delete v;
  });
  view.release();
  return std::move(owner);
}

void RegisterFiles(py::module_& m) {
  py::class_<MappedFileHandle>(m, "MappedFile", py::buffer_protocol(),
                               "A read-only mapping of one data shard; the owner of zero-copy arrays.")
      .def_property_readonly("path", [](const MappedFileHandle& h) { return h.source->path(); })
      .def_property_readonly("size", [](const MappedFileHandle& h) { return h.source->size(); })
      .def("__len__", [](const MappedFileHandle& h) { return h.source->size(); })
      .def("__repr__",
           [](const MappedFileHandle& h) {
             return "<bundlefast._core.MappedFile '" + h.source->path() + "' (" + std::to_string(h.source->size()) +
                    " bytes)>";
           })
      .def_buffer([](const MappedFileHandle& h) {
        return py::buffer_info(const_cast<char*>(h.source->View(0, h.source->size())), 1,
                               py::format_descriptor<uint8_t>::format(), 1,
                               {static_cast<py::ssize_t>(h.source->size())}, {1}, /*readonly=*/true);
      });
  m.def("table_kind", &TableKindOf, py::arg("path"),
        "What a file is: 'v1' (V1 checkpoint), 'v2' (V2 .index), 'sstable' (another SSTable) or None.");
}

}  // namespace bindings
}  // namespace bundlefast
