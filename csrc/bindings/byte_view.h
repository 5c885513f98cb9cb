// bundlefast bindings: ByteView, the bytes of a buffer-protocol object.
#ifndef BUNDLEFAST_CSRC_BINDINGS_BYTE_VIEW_H_
#define BUNDLEFAST_CSRC_BINDINGS_BYTE_VIEW_H_

#include <pybind11/pybind11.h>

#include <cstddef>

namespace bundlefast {
namespace bindings {

// A C-contiguous byte view of any buffer-protocol object, read-only or, with
// `writable`, writable (PyBUF_SIMPLE refuses non-contiguous ones with
// BufferError, PyBUF_WRITABLE read-only ones; neither asks for a format
// string, so ml_dtypes arrays, which have none, work too). Holding the
// view keeps the exporter alive and, for bytearray, un-resizable, so the bytes
// stay put while the GIL is released. Construct and destroy with the GIL held.
class ByteView {
 public:
  explicit ByteView(pybind11::handle obj, bool writable = false) {
    if (PyObject_GetBuffer(obj.ptr(), &view_, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) != 0) {
      throw pybind11::error_already_set();
    }
  }
  ~ByteView() { PyBuffer_Release(&view_); }
  ByteView(const ByteView&) = delete;
  ByteView& operator=(const ByteView&) = delete;

  const char* data() const { return static_cast<const char*>(view_.buf); }
  char* mutable_data() const { return static_cast<char*>(view_.buf); }
  size_t size() const { return static_cast<size_t>(view_.len); }

 private:
  Py_buffer view_;
};

}  // namespace bindings
}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BINDINGS_BYTE_VIEW_H_
