// bundlefast: a bounds-checked decoder for raw Snappy blocks (FORMAT.md 2.3).
#ifndef BUNDLEFAST_CSRC_SNAPPY_H_
#define BUNDLEFAST_CSRC_SNAPPY_H_

#include <string>
#include <string_view>

#include "status.h"

namespace bundlefast {

// Decompresses one raw Snappy block (preamble varint length, then literal and
// copy elements) into `*out`. Every length and copy offset is checked against
// the input and the output produced so far, and the declared length is capped
// by what `input` could possibly expand to, so hostile input cannot force a
// large allocation. Malformed input gives kCorruption.
Status SnappyUncompress(std::string_view input, std::string* out);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_SNAPPY_H_
