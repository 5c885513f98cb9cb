// bundlefast bindings: the CRC32C functions of bundlefast._core.
#ifndef BUNDLEFAST_CSRC_BINDINGS_CRC32C_PY_H_
#define BUNDLEFAST_CSRC_BINDINGS_CRC32C_PY_H_

#include <pybind11/pybind11.h>

namespace bundlefast {
namespace bindings {

// Adds to `m`: crc32c(data, value=0), masked_crc32c(data), mask_crc32c(crc),
// unmask_crc32c(masked), crc32c_combine(crc_a, crc_b, len_b), and the test
// hooks _crc32c_extend(data, crc=0, impl="auto"), _crc32c_copy(dst, src,
// crc=0, impl="auto"), _crc32c_backends() and _crc32c_active(). `data` is any C-contiguous buffer-protocol object; the GIL
// is released while large buffers are checksummed. Thread-safe.
void RegisterCrc32c(pybind11::module_& m);

}  // namespace bindings
}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BINDINGS_CRC32C_PY_H_
