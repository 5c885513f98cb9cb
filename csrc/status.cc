// bundlefast: Status accessors that need an out-of-line empty string.
#include "status.h"

namespace bundlefast {

namespace {
const std::string& EmptyString() {
  static const std::string* const kEmpty = new std::string();
  return *kEmpty;
}
}  // namespace

const std::string& Status::message() const { return rep_ ? rep_->message : EmptyString(); }

const std::string& Status::path() const { return rep_ ? rep_->path : EmptyString(); }

Status Status::WithContext(const std::string& prefix) const {
  if (ok()) return Status();
  Status s(*this);
  s.rep_->message = prefix + ": " + s.rep_->message;
  return s;
}

}  // namespace bundlefast
