// bundlefast: TensorFlow DataType enum values and what the bundle stores for each.
#ifndef BUNDLEFAST_CSRC_DTYPE_H_
#define BUNDLEFAST_CSRC_DTYPE_H_

#include <cstdint>
#include <string>

namespace bundlefast {

// Values of tensorflow.DataType (types.proto), FORMAT.md section 3.6.
enum DataType : int32_t {
  DT_INVALID = 0,
  DT_FLOAT = 1,
  DT_DOUBLE = 2,
  DT_INT32 = 3,
  DT_UINT8 = 4,
  DT_INT16 = 5,
  DT_INT8 = 6,
  DT_STRING = 7,
  DT_COMPLEX64 = 8,
  DT_INT64 = 9,
  DT_BOOL = 10,
  DT_QINT8 = 11,
  DT_QUINT8 = 12,
  DT_QINT32 = 13,
  DT_BFLOAT16 = 14,
  DT_QINT16 = 15,
  DT_QUINT16 = 16,
  DT_UINT16 = 17,
  DT_COMPLEX128 = 18,
  DT_HALF = 19,
  DT_RESOURCE = 20,
  DT_VARIANT = 21,
  DT_UINT32 = 22,
  DT_UINT64 = 23,
  DT_FLOAT8_E5M2 = 24,
  DT_FLOAT8_E4M3FN = 25,
  DT_FLOAT8_E4M3FNUZ = 26,
  DT_FLOAT8_E4M3B11FNUZ = 27,
  DT_FLOAT8_E5M2FNUZ = 28,
  DT_INT4 = 29,
  DT_UINT4 = 30,
  DT_INT2 = 31,
  DT_UINT2 = 32,
  DT_FLOAT4_E2M1FN = 33,
};

// One past the largest value this build knows; larger values are unknown dtypes.
constexpr int32_t kNumDataTypes = 34;

// Bytes per element in a bundle for fixed-width ("memcpy") dtypes, else 0
// (STRING, VARIANT, RESOURCE, INVALID, unknown values). 4- and 2-bit types
// take one byte per element on disk.
int DataTypeSize(int32_t dtype);

// The byte-swap unit for a big-endian bundle: 1 (no swap), 2, 4 or 8. Complex
// types swap each component, so COMPLEX64 reports 4 and COMPLEX128 reports 8.
int DataTypeSwapUnit(int32_t dtype);

// "DT_FLOAT", ...; "DT_<n>" for unknown values. Used in error messages.
std::string DataTypeName(int32_t dtype);

// TF's Python name ("float32", "qint8", "string", "variant"); "" for INVALID
// and unknown values.
const char* DataTypePythonName(int32_t dtype);

// The type of the arrays get_tensor returns for `dtype`: a NumPy type name
// ("float32", "object" for strings; quantized types as their plain integer
// type), or an ml_dtypes attribute ("bfloat16", "int4", ...) with
// *from_ml_dtypes set; null when there is none (RESOURCE, VARIANT, unknown).
// The bindings resolve it lazily, so ml_dtypes is imported only when needed.
const char* DataTypeNumpyName(int32_t dtype, bool* from_ml_dtypes);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_DTYPE_H_
