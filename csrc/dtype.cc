// bundlefast: the one dtype table: per-dtype facts (element size, swap unit,
// names, the NumPy type returned), FORMAT.md 3.6 / 4.1 / 8.
#include "dtype.h"

namespace bundlefast {

namespace {
struct DataTypeInfo {
  const char* name;        // TF's enum name
  int size;                // bytes per element in the bundle, 0 if not fixed-width
  int swap_unit;           // byte-swap granularity for big-endian bundles
  const char* python;      // TF's Python name (tf.DType.name)
  const char* numpy;       // what get_tensor returns: a NumPy type name, or null
  bool ml_dtypes;          // `numpy` is an attribute of ml_dtypes, not of NumPy
};

// Indexed by enum value. Quantized types come back as their plain integer
// types, as TF's get_tensor returns them.
constexpr DataTypeInfo kInfo[kNumDataTypes] = {
    {"DT_INVALID", 0, 1, "", nullptr, false},
    {"DT_FLOAT", 4, 4, "float32", "float32", false},
    {"DT_DOUBLE", 8, 8, "float64", "float64", false},
    {"DT_INT32", 4, 4, "int32", "int32", false},
    {"DT_UINT8", 1, 1, "uint8", "uint8", false},
    {"DT_INT16", 2, 2, "int16", "int16", false},
    {"DT_INT8", 1, 1, "int8", "int8", false},
    {"DT_STRING", 0, 1, "string", "object", false},
    {"DT_COMPLEX64", 8, 4, "complex64", "complex64", false},
    {"DT_INT64", 8, 8, "int64", "int64", false},
    {"DT_BOOL", 1, 1, "bool", "bool", false},
    {"DT_QINT8", 1, 1, "qint8", "int8", false},
    {"DT_QUINT8", 1, 1, "quint8", "uint8", false},
    {"DT_QINT32", 4, 4, "qint32", "int32", false},
    {"DT_BFLOAT16", 2, 2, "bfloat16", "bfloat16", true},
    {"DT_QINT16", 2, 2, "qint16", "int16", false},
    {"DT_QUINT16", 2, 2, "quint16", "uint16", false},
    {"DT_UINT16", 2, 2, "uint16", "uint16", false},
    {"DT_COMPLEX128", 16, 8, "complex128", "complex128", false},
    {"DT_HALF", 2, 2, "float16", "float16", false},
    {"DT_RESOURCE", 0, 1, "resource", nullptr, false},
    {"DT_VARIANT", 0, 1, "variant", nullptr, false},
    {"DT_UINT32", 4, 4, "uint32", "uint32", false},
    {"DT_UINT64", 8, 8, "uint64", "uint64", false},
    {"DT_FLOAT8_E5M2", 1, 1, "float8_e5m2", "float8_e5m2", true},
    {"DT_FLOAT8_E4M3FN", 1, 1, "float8_e4m3fn", "float8_e4m3fn", true},
    {"DT_FLOAT8_E4M3FNUZ", 1, 1, "float8_e4m3fnuz", "float8_e4m3fnuz", true},
    {"DT_FLOAT8_E4M3B11FNUZ", 1, 1, "float8_e4m3b11fnuz", "float8_e4m3b11fnuz", true},
    {"DT_FLOAT8_E5M2FNUZ", 1, 1, "float8_e5m2fnuz", "float8_e5m2fnuz", true},
    {"DT_INT4", 1, 1, "int4", "int4", true},
    {"DT_UINT4", 1, 1, "uint4", "uint4", true},
    {"DT_INT2", 1, 1, "int2", "int2", true},
    {"DT_UINT2", 1, 1, "uint2", "uint2", true},
    {"DT_FLOAT4_E2M1FN", 1, 1, "float4_e2m1fn", "float4_e2m1fn", true},
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

const char* DataTypePythonName(int32_t dtype) { return Known(dtype) ? kInfo[dtype].python : ""; }

const char* DataTypeNumpyName(int32_t dtype, bool* from_ml_dtypes) {
  *from_ml_dtypes = Known(dtype) && kInfo[dtype].ml_dtypes;
  return Known(dtype) ? kInfo[dtype].numpy : nullptr;
}

}  // namespace bundlefast
