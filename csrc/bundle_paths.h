// bundlefast: the file names of a checkpoint with prefix P (FORMAT.md 1):
// P.index, P.data-SSSSS-of-NNNNN, and the temporary names a save uses.
#ifndef BUNDLEFAST_CSRC_BUNDLE_PATHS_H_
#define BUNDLEFAST_CSRC_BUNDLE_PATHS_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace bundlefast {

std::string IndexFilename(const std::string& prefix);

// P.data-%05d-of-%05d: %05d is a minimum width (shard 123456 is "123456").
std::string DataFilename(const std::string& prefix, int32_t shard, int32_t num_shards);

// Where a save writes before renaming: P.index.tempstate<token> and
// P.data-%05d.tempstate<token> (the shard count is not known until the end).
// TF's BundleWriter uses the same ".tempstate<decimal>" suffix.
std::string TempIndexFilename(const std::string& prefix, const std::string& token);
std::string TempDataFilename(const std::string& prefix, int32_t shard, const std::string& token);

// Splits P into its directory ("." if none) and its last component.
void SplitPrefix(const std::string& prefix, std::string* dir, std::string* base);

// What a file named `name` in P's directory is, for P's last component `base`:
// a leftover temp file of some save of P (ours or TF's), a data shard of P
// (*shard / *num_shards set), or neither.
enum class PrefixFileKind { kOther, kTemp, kDataShard };
PrefixFileKind ClassifyPrefixFile(std::string_view base, std::string_view name, int64_t* shard, int64_t* num_shards);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_BUNDLE_PATHS_H_
