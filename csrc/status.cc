// bundlefast: out-of-line parts of Status, and the hex formatting messages share.
#include "status.h"

#include <cstdio>

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

std::string Hex32(uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

}  // namespace bundlefast
