// bundlefast bindings: CRC32C over Python buffers, plus the hooks that let
// the tests reach every kernel.
//
// The results match the `crc32c` PyPI package (crc32c.crc32c(data, value)),
// so either can check the other. Only argument conversion lives here; the
// arithmetic is in csrc/crc32c*.cc.
#include "crc32c_py.h"

#include <cstddef>
#include <cstdint>
#include <string>

#include "byte_view.h"
#include "crc32c.h"

namespace py = pybind11;

namespace bundlefast {
namespace bindings {

namespace {

using crc32c::Backend;

// Below this size the checksum takes at most a few microseconds. Releasing
// the GIL would cost a noticeable fraction of that, and reacquiring it can
// wait for another thread's whole switch interval (5 ms), so small buffers
// keep the GIL.
constexpr size_t kReleaseGilBytes = 64 * 1024;

// Extends `crc` over the bytes of `obj` with kernel `backend`, or with the
// dispatcher's choice when `backend` is null.
uint32_t ExtendBuffer(const py::buffer& obj, uint32_t crc, const Backend* backend) {
  ByteView view(obj);
  auto run = [&] {
    return backend != nullptr ? crc32c::ExtendWith(*backend, crc, view.data(), view.size())
                              : crc32c::Extend(crc, view.data(), view.size());
  };
  if (view.size() < kReleaseGilBytes) return run();
  py::gil_scoped_release release;
  return run();
}

// Copies `src` into `dst` (same length, not overlapping) and returns the CRC
// of the bytes, with ExtendCopy's kernel `backend` or the dispatcher's.
uint32_t ExtendCopyBuffer(const py::buffer& dst_obj, const py::buffer& src_obj, uint32_t crc,
                          const Backend* backend) {
  ByteView dst(dst_obj, /*writable=*/true);
  ByteView src(src_obj);
  if (dst.size() != src.size()) {
    throw py::value_error("dst has " + std::to_string(dst.size()) + " bytes, src " + std::to_string(src.size()) +
                          ": they must be the same size");
  }
  const auto lo = reinterpret_cast<uintptr_t>(src.data());
  const auto d = reinterpret_cast<uintptr_t>(dst.data());
  if (src.size() > 0 && d < lo + src.size() && lo < d + dst.size()) {
    throw py::value_error("dst and src overlap");
  }
  auto run = [&] {
    return backend != nullptr ? crc32c::ExtendCopyWith(*backend, crc, dst.mutable_data(), src.data(), src.size())
                              : crc32c::ExtendCopy(crc, dst.mutable_data(), src.data(), src.size());
  };
  if (src.size() < kReleaseGilBytes) return run();
  py::gil_scoped_release release;
  return run();
}

constexpr Backend kAllBackends[] = {Backend::kPortable, Backend::kSse42, Backend::kArm64};

// The backend named `impl`, nullptr for "auto"; ValueError if unknown or
// unavailable here.
const Backend* BackendNamed(const std::string& impl) {
  if (impl == "auto") return nullptr;
  for (const Backend& b : kAllBackends) {
    if (impl != crc32c::BackendName(b)) continue;
    if (!crc32c::BackendAvailable(b)) {
      throw py::value_error("CRC32C backend '" + impl + "' is not available in this build or on this CPU");
    }
    return &b;
  }
  throw py::value_error("unknown CRC32C backend '" + impl + "' (expected auto, portable, sse42 or arm64)");
}

}  // namespace

void RegisterCrc32c(py::module_& m) {
  m.def(
      "crc32c",
      [](const py::buffer& data, uint32_t value) { return ExtendBuffer(data, value, nullptr); },
      py::arg("data"), py::arg("value") = 0,
      "CRC-32C (Castagnoli) of a C-contiguous bytes-like object.\n\n"
      "`value` is the CRC of preceding data, so crc32c(b, crc32c(a)) == crc32c(a + b),\n"
      "as in the `crc32c` package. Releases the GIL for large buffers.");
  m.def(
      "masked_crc32c",
      [](const py::buffer& data) { return crc32c::Mask(ExtendBuffer(data, 0, nullptr)); },
      py::arg("data"), "The masked CRC-32C of `data`, as TensorFlow stores it.");
  m.def(
      "mask_crc32c", [](uint32_t crc) { return crc32c::Mask(crc); }, py::arg("crc"),
      "Mask a CRC-32C for storage: rotate right by 15, add 0xa282ead8.");
  m.def(
      "unmask_crc32c", [](uint32_t masked) { return crc32c::Unmask(masked); }, py::arg("masked"),
      "Inverse of mask_crc32c.");
  m.def(
      "crc32c_combine",
      [](uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
        return crc32c::Combine(crc_a, crc_b, len_b);
      },
      py::arg("crc_a"), py::arg("crc_b"), py::arg("len_b"),
      "crc32c(A + B) from crc32c(A), crc32c(B) and len(B), in O(log len(B)).");

  // Test hooks: same arithmetic, explicit kernel.
  m.def(
      "_crc32c_extend",
      [](const py::buffer& data, uint32_t crc, const std::string& impl) {
        return ExtendBuffer(data, crc, BackendNamed(impl));
      },
      py::arg("data"), py::arg("crc") = 0, py::arg("impl") = "auto",
      "Test hook: crc32c(data, crc) computed by kernel `impl`.");
  m.def(
      "_crc32c_copy",
      [](const py::buffer& dst, const py::buffer& src, uint32_t crc, const std::string& impl) {
        return ExtendCopyBuffer(dst, src, crc, BackendNamed(impl));
      },
      py::arg("dst"), py::arg("src"), py::arg("crc") = 0, py::arg("impl") = "auto",
      "Test hook: copy src into dst (writable, same size, not overlapping) and return\n"
      "crc32c(src, crc), in one pass, with kernel `impl` (crc32c::ExtendCopy).\n"
      "Releases the GIL for large buffers.");
  m.def(
      "_crc32c_backends",
      [] {
        py::list names;
        for (Backend b : kAllBackends) {
          if (crc32c::BackendAvailable(b)) names.append(crc32c::BackendName(b));
        }
        return names;
      },
      "Test hook: the CRC32C kernels this build has and this CPU can run.");
  m.def(
      "_crc32c_active", [] { return std::string(crc32c::BackendName(crc32c::ActiveBackend())); },
      "Test hook: the kernel crc32c() uses.");
}

}  // namespace bindings
}  // namespace bundlefast
