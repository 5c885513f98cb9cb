// bundlefast: how error messages show a tensor key.
#ifndef BUNDLEFAST_CSRC_KEY_TEXT_H_
#define BUNDLEFAST_CSRC_KEY_TEXT_H_

#include <cstdio>
#include <string>
#include <string_view>

namespace bundlefast {

// The key in single quotes, control bytes as \xNN: names may hold NULs (and
// slice keys always do), which would otherwise cut or garble a message.
inline std::string QuotedKey(std::string_view key) {
  std::string s = "'";
  for (const char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      s += buf;
    } else {
      s += ch;
    }
  }
  return s + "'";
}

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_KEY_TEXT_H_
