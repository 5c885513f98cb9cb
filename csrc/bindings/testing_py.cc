// bundlefast bindings: _core._testing. Each function runs one layer of the
// core (coding, block, table, bundle entry) on bytes the tests build with an
// independent encoder (tests/bundle_builder.py), so each layer is tested on its
// own, not only end to end. Not part of the API.
#include "testing_py.h"

#include <pybind11/stl.h>

#include <string>
#include <utility>
#include <vector>

#include "arena.h"
#include "block.h"
#include "bundle_entry.h"
#include "coding.h"
#include "errors.h"
#include "numpy_arrays.h"
#include "string_tensor.h"
#include "table.h"

namespace py = pybind11;

namespace bundlefast {
namespace bindings {

namespace {
using Entries = std::vector<std::pair<py::bytes, py::bytes>>;

class Collect : public BlockVisitor {
 public:
  Status Visit(std::string_view key, std::string_view value) override {
    entries.emplace_back(std::string(key), std::string(value));
    return Status::OK();
  }
  std::vector<std::pair<std::string, std::string>> entries;
};

Entries ToPython(const Collect& c) {
  Entries out;
  for (const auto& [k, v] : c.entries) out.emplace_back(py::bytes(k), py::bytes(v));
  return out;
}
}  // namespace

void RegisterTesting(py::module_& m) {
  py::module_ t = m.def_submodule("_testing", "The core's layers one by one, for unit tests (not an API).");
  t.def(
      "set_arena_min_bytes",
      [](uint64_t bytes) {
        const uint64_t before = ArenaMinBytes();
        SetArenaMinBytes(bytes);
        return before;
      },
      py::arg("bytes"), "Sets the smallest read whose copies share an arena; returns the previous value.");
  t.def("set_arena_cache_bytes", &Arena::SetRetainBytes, py::arg("bytes"),
        "Sets the most bytes a freed arena kept for reuse may have (0: none is kept); returns the previous value.");
  t.def(
      "retained_arena",
      [] {
        const auto [data, capacity] = Arena::Retained();
        return data ? py::object(py::make_tuple(reinterpret_cast<uintptr_t>(data), capacity)) : py::object(py::none());
      },
      "(address, capacity in bytes) of the freed arena kept for reuse, or None.");
  t.def(
      "get_varint64",
      [](const py::bytes& data) {
        const std::string s = data;
        uint64_t value;
        const char* end = GetVarint64Ptr(s.data(), s.data() + s.size(), &value);
        if (!end) ThrowIfError(Status::Corruption("bad varint"));
        return py::make_tuple(value, end - s.data());
      },
      py::arg("data"), "(value, bytes used) of the varint64 at the start of data; CorruptionError if malformed.");
  t.def(
      "put_varint64",
      [](uint64_t v) {
        std::string s;
        PutVarint64(&s, v);
        return py::bytes(s);
      },
      py::arg("value"));
  t.def(
      "block_entries",
      [](const py::bytes& block) {
        const std::string s = block;
        Collect c;
        ThrowIfError(ForEachBlockEntry(s, "block", &c));
        return ToPython(c);
      },
      py::arg("block"), "Every (key, value) of one block (contents without trailer).");
  t.def(
      "table_entries",
      [](const py::bytes& file) {
        const std::string s = file;
        Collect c;
        ThrowIfError(ForEachTableEntry(s, "table", &c));
        return ToPython(c);
      },
      py::arg("file"), "Every (key, value) of a whole SSTable file.");
  t.def(
      "decode_entry",
      [](const py::bytes& value, int32_t num_shards) {
        BundleEntry e;
        ThrowIfError(DecodeBundleEntry(std::string(value), num_shards, &e));
        std::vector<std::vector<std::pair<int64_t, int64_t>>> slices;
        for (const TensorSlice& s : e.slices) {
          slices.emplace_back();
          for (const SliceExtent& x : s) slices.back().emplace_back(x.start, x.length);
        }
        return py::dict(py::arg("dtype") = e.dtype, py::arg("shape") = e.shape, py::arg("shard_id") = e.shard_id,
                        py::arg("offset") = e.offset, py::arg("size") = e.size,
                        py::arg("crc32c") = e.has_crc32c ? py::object(py::int_(e.masked_crc32c)) : py::none(),
                        py::arg("slices") = slices);
      },
      py::arg("value"), py::arg("num_shards"), "A BundleEntryProto, decoded and validated, as a dict.");
  t.def(
      "decode_header",
      [](const py::bytes& value) {
        BundleHeader h;
        ThrowIfError(DecodeBundleHeader(std::string(value), "header", &h));
        return py::dict(py::arg("num_shards") = h.num_shards, py::arg("endianness") = h.endianness,
                        py::arg("producer") = h.producer, py::arg("min_consumer") = h.min_consumer,
                        py::arg("bad_consumers") = h.bad_consumers);
      },
      py::arg("value"), "A BundleHeaderProto, decoded and checked, as a dict.");
  t.def(
      "decode_strings",
      [](const py::bytes& payload, uint64_t n, bool big_endian, bool verify, uint32_t masked_crc) {
        const std::string s = payload;
        std::vector<StringRef> refs;
        ThrowIfError(DecodeStringTensor(s.data(), s.size(), n, big_endian, verify, masked_crc, &refs));
        std::vector<py::bytes> out;
        for (const StringRef& r : refs) out.emplace_back(s.substr(static_cast<size_t>(r.offset), r.length));
        return out;
      },
      py::arg("payload"), py::arg("n"), py::arg("big_endian"), py::arg("verify"), py::arg("masked_crc"),
      "The elements of a DT_STRING payload.");
}

}  // namespace bindings
}  // namespace bundlefast
