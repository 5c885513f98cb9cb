// bundlefast: Status, the only error currency of the C++ core.
//
// Modeled on leveldb's Status: cheap when OK (no allocation), a code plus a
// message otherwise. The core never throws and never aborts on bad input; the
// bindings translate a non-OK Status into the Python exception hierarchy.
#ifndef BUNDLEFAST_CSRC_STATUS_H_
#define BUNDLEFAST_CSRC_STATUS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace bundlefast {

class [[nodiscard]] Status {
 public:
  enum class Code : int {
    kOk = 0,
    kNotFound = 1,          // a tensor key that is not in the index
    kCorruption = 2,        // malformed bytes: footer, block, varint, proto, range
    kChecksumMismatch = 3,  // a masked CRC32C that does not match
    kNotSupported = 4,      // valid input we do not read (unknown dtype, V1, ...)
    kInvalidArgument = 5,   // caller error (bad slice spec, wrong argument)
    kIOError = 6,           // open/stat/mmap/read failure; errno() is set
  };

  Status() = default;
  Status(const Status& other)
      : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status ChecksumMismatch(std::string msg) {
    return Status(Code::kChecksumMismatch, std::move(msg));
  }
  static Status NotSupported(std::string msg) {
    return Status(Code::kNotSupported, std::move(msg));
  }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  // `path` is kept separately so the bindings can raise OSError(errno, msg, path).
  static Status IOError(std::string msg, int err, std::string path) {
    Status s(Code::kIOError, std::move(msg));
    s.rep_->err = err;
    s.rep_->path = std::move(path);
    return s;
  }

  bool ok() const { return rep_ == nullptr; }
  Code code() const { return rep_ ? rep_->code : Code::kOk; }
  const std::string& message() const;
  int error_number() const { return rep_ ? rep_->err : 0; }
  const std::string& path() const;

  // Returns a copy whose message is "<prefix>: <message>"; the code is kept.
  Status WithContext(const std::string& prefix) const;

 private:
  struct Rep {
    Code code;
    std::string message;
    int err = 0;
    std::string path;
  };
  Status(Code code, std::string msg) : rep_(std::make_unique<Rep>(Rep{code, std::move(msg), 0, std::string()})) {}
  std::unique_ptr<Rep> rep_;
};

// "0x1a2b3c4d": how messages show CRCs and other 32-bit fields.
std::string Hex32(uint32_t v);

}  // namespace bundlefast

// The one propagation helper: evaluate, return the Status if it is not OK.
#define BF_RETURN_IF_ERROR(expr)                    \
  do {                                              \
    ::bundlefast::Status bf_status_ = (expr);       \
    if (!bf_status_.ok()) return bf_status_;        \
  } while (0)

#endif  // BUNDLEFAST_CSRC_STATUS_H_
