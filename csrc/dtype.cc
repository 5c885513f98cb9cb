// bundlefast: per-dtype facts (element size, swap unit, name), FORMAT.md 3.6 / 4.1 / 8.
#include "dtype.h"

namespace bundlefast {

namespace {
struct DataTypeInfo {
  const char* name;
  int size;       // bytes per element in the bundle, 0 if not fixed-width
  int swap_unit;  // byte-swap granularity for big-endian bundles
};

// Indexed by enum value.
constexpr DataTypeInfo kInfo[kNumDataTypes] = {
    {"DT_INVALID", 0, 1},       {"DT_FLOAT", 4, 4},
    {"DT_DOUBLE", 8, 8},        {"DT_INT32", 4, 4},
    {"DT_UINT8", 1, 1},         {"DT_INT16", 2, 2},
    {"DT_INT8", 1, 1},          {"DT_STRING", 0, 1},
    {"DT_COMPLEX64", 8, 4},     {"DT_INT64", 8, 8},
    {"DT_BOOL", 1, 1},          {"DT_QINT8", 1, 1},
    {"DT_QUINT8", 1, 1},        {"DT_QINT32", 4, 4},
    {"DT_BFLOAT16", 2, 2},      {"DT_QINT16", 2, 2},
    {"DT_QUINT16", 2, 2},       {"DT_UINT16", 2, 2},
    {"DT_COMPLEX128", 16, 8},   {"DT_HALF", 2, 2},
    {"DT_RESOURCE", 0, 1},      {"DT_VARIANT", 0, 1},
    {"DT_UINT32", 4, 4},        {"DT_UINT64", 8, 8},
    {"DT_FLOAT8_E5M2", 1, 1},   {"DT_FLOAT8_E4M3FN", 1, 1},
    {"DT_FLOAT8_E4M3FNUZ", 1, 1}, {"DT_FLOAT8_E4M3B11FNUZ", 1, 1},
    {"DT_FLOAT8_E5M2FNUZ", 1, 1}, {"DT_INT4", 1, 1},
    {"DT_UINT4", 1, 1},         {"DT_INT2", 1, 1},
    {"DT_UINT2", 1, 1},         {"DT_FLOAT4_E2M1FN", 1, 1},
};

bool Known(int32_t dtype) { return dtype >= 0 && dtype < kNumDataTypes; }
}  // namespace

int DataTypeSize(int32_t dtype) { return Known(dtype) ? kInfo[dtype].size : 0; }

int DataTypeSwapUnit(int32_t dtype) { return Known(dtype) ? kInfo[dtype].swap_unit : 1; }

std::string DataTypeName(int32_t dtype) {
  if (Known(dtype)) return kInfo[dtype].name;
  // *_REF types are the base value + 100 and never appear in a bundle.
  return "DT_" + std::to_string(dtype);
}

}  // namespace bundlefast
