// bundlefast bindings: turning a core Status into a Python exception.
#ifndef BUNDLEFAST_CSRC_BINDINGS_ERRORS_H_
#define BUNDLEFAST_CSRC_BINDINGS_ERRORS_H_

#include <pybind11/pybind11.h>

#include <exception>

#include "status.h"

namespace bundlefast {
namespace bindings {

// Carries a non-OK Status out of a binding; the registered translator turns it
// into the matching class of bundlefast.errors. Safe to throw with the GIL
// released: pybind11 reacquires it while unwinding out of gil_scoped_release.
class StatusError : public std::exception {
 public:
  explicit StatusError(Status status) : status_(std::move(status)) {}
  const char* what() const noexcept override { return status_.message().c_str(); }
  const Status& status() const { return status_; }

 private:
  Status status_;
};

inline void ThrowIfError(const Status& s) {
  if (!s.ok()) throw StatusError(s);
}

// Registers the translator (classes are looked up in bundlefast.errors once).
void RegisterErrors(pybind11::module_& m);

}  // namespace bindings
}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BINDINGS_ERRORS_H_
