// bundlefast: checkpoint file names.
#include "bundle_paths.h"

#include <cstdio>

namespace bundlefast {

namespace {
constexpr std::string_view kTempMarker = ".tempstate";

bool ConsumePrefix(std::string_view* s, std::string_view prefix) {
  if (s->substr(0, prefix.size()) != prefix) return false;
  s->remove_prefix(prefix.size());
  return true;
}

// Reads a run of at least `min_digits` decimal digits (at most 18, so it fits).
bool ConsumeNumber(std::string_view* s, size_t min_digits, int64_t* value) {
  size_t n = 0;
  int64_t v = 0;
  while (n < s->size() && n < 18 && (*s)[n] >= '0' && (*s)[n] <= '9') v = v * 10 + ((*s)[n++] - '0');
  if (n < min_digits) return false;
  s->remove_prefix(n);
  *value = v;
  return true;
}

// ".tempstate" followed by one or more digits, up to the end.
bool IsTempSuffix(std::string_view s) {
  int64_t token;
  return ConsumePrefix(&s, kTempMarker) && ConsumeNumber(&s, 1, &token) && s.empty();
}
}  // namespace

std::string IndexFilename(const std::string& prefix) { return prefix + ".index"; }

std::string DataFilename(const std::string& prefix, int32_t shard, int32_t num_shards) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), ".data-%05d-of-%05d", shard, num_shards);
  return prefix + buf;
}

std::string TempIndexFilename(const std::string& prefix, const std::string& token) {
  return IndexFilename(prefix) + std::string(kTempMarker) + token;
}

std::string TempDataFilename(const std::string& prefix, int32_t shard, const std::string& token) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), ".data-%05d", shard);
  return prefix + buf + std::string(kTempMarker) + token;
}

void SplitPrefix(const std::string& prefix, std::string* dir, std::string* base) {
  const size_t slash = prefix.rfind('/');
  if (slash == std::string::npos) {
    *dir = ".";
    *base = prefix;
  } else {
    *dir = slash == 0 ? "/" : prefix.substr(0, slash);
    *base = prefix.substr(slash + 1);
  }
}

PrefixFileKind ClassifyPrefixFile(std::string_view base, std::string_view name, int64_t* shard,
                                  int64_t* num_shards) {
  std::string_view rest = name;
  if (!ConsumePrefix(&rest, base) || !ConsumePrefix(&rest, ".")) return PrefixFileKind::kOther;
  if (ConsumePrefix(&rest, "index")) return IsTempSuffix(rest) ? PrefixFileKind::kTemp : PrefixFileKind::kOther;
  if (!ConsumePrefix(&rest, "data-") || !ConsumeNumber(&rest, 5, shard)) return PrefixFileKind::kOther;
  if (IsTempSuffix(rest)) return PrefixFileKind::kTemp;  // ours: P.data-00000.tempstate<t>
  if (!ConsumePrefix(&rest, "-of-") || !ConsumeNumber(&rest, 5, num_shards)) return PrefixFileKind::kOther;
  if (rest.empty()) return PrefixFileKind::kDataShard;
  return IsTempSuffix(rest) ? PrefixFileKind::kTemp : PrefixFileKind::kOther;  // TF's
}

}  // namespace bundlefast
