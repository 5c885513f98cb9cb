// bundlefast: CRC32C run-time dispatch: probe the CPU once, then send every
// Extend() to the fastest kernel this binary has and this CPU can run.
//
// The build decides which kernels exist (HAVE_SSE42 / HAVE_ARM64_CRC32C, set
// by CMake's compile probes); the CPU decides which of those may run. Only
// the kernel files carry ISA flags, so this file, and the probe, run on any
// CPU of the target architecture (google/crc32c src/crc32c.cc is the model).
#include "crc32c.h"

#include <cstring>

#include "cpu_features.h"
#include "crc32c_internal.h"

// Fail loudly rather than silently shipping only the slow kernel: whatever
// builds this file must say which kernels it compiled.
#if !defined(HAVE_SSE42) || !defined(HAVE_ARM64_CRC32C)
#error "Build crc32c.cc with -DHAVE_SSE42=0|1 -DHAVE_ARM64_CRC32C=0|1 (see CMakeLists.txt)"
#endif

namespace bundlefast {
namespace crc32c {

namespace {

using ExtendFn = uint32_t (*)(uint32_t crc, const char* data, size_t n);

// Returns the kernel for `backend`, or nullptr if this binary lacks it or
// the CPU cannot run it.
ExtendFn KernelFor(Backend backend) {
  switch (backend) {
    case Backend::kPortable:
      return &ExtendPortable;
    case Backend::kSse42:
#if HAVE_SSE42
      if (CanUseSse42()) return &ExtendSse42;
#endif
      return nullptr;
    case Backend::kArm64:
#if HAVE_ARM64_CRC32C
      if (CanUseArm64Crc32()) return &ExtendArm64;
#endif
      return nullptr;
  }
  return nullptr;
}

// Every backend's kernel, or nullptr where unavailable, indexed by Backend.
// The CPU is probed once, on first use: C++11 makes the initialization of a
// function-local static thread-safe, so concurrent first calls are fine.
struct Kernels {
  ExtendFn fn[3];
};
ExtendFn Available(Backend backend) {
  static const Kernels kernels = {{
      KernelFor(Backend::kPortable),
      KernelFor(Backend::kSse42),
      KernelFor(Backend::kArm64),
  }};
  const auto i = static_cast<unsigned>(backend);
  return i < 3 ? kernels.fn[i] : nullptr;
}

struct Dispatch {
  Backend backend;
  ExtendFn extend;
};

Dispatch Choose() {
  // At most one hardware kernel exists per architecture, so order is moot.
  if (ExtendFn fn = Available(Backend::kSse42)) return {Backend::kSse42, fn};
  if (ExtendFn fn = Available(Backend::kArm64)) return {Backend::kArm64, fn};
  return {Backend::kPortable, &ExtendPortable};
}

// The choice is cached the same way; afterwards every Extend() is a load
// plus an indirect call.
const Dispatch& Active() {
  static const Dispatch dispatch = Choose();
  return dispatch;
}

}  // namespace

uint32_t Extend(uint32_t crc, const char* data, size_t n) { return Active().extend(crc, data, n); }

uint32_t ExtendCopy(uint32_t crc, char* dst, const char* src, size_t n) {
  // Copy a block, then checksum the copy while it is still in L1: the source
  // is read from memory once. (A kernel that checksums in registers on the
  // way may replace this; the contract stays.)
  constexpr size_t kBlock = 16 << 10;
  const ExtendFn extend = Active().extend;
  while (n > 0) {
    const size_t k = n < kBlock ? n : kBlock;
    std::memcpy(dst, src, k);
    crc = extend(crc, dst, k);
    dst += k;
    src += k;
    n -= k;
  }
  return crc;
}

const char* BackendName(Backend backend) {
  switch (backend) {
    case Backend::kPortable:
      return "portable";
    case Backend::kSse42:
      return "sse42";
    case Backend::kArm64:
      return "arm64";
  }
  return "unknown";
}

bool BackendAvailable(Backend backend) { return Available(backend) != nullptr; }

Backend ActiveBackend() { return Active().backend; }

uint32_t ExtendWith(Backend backend, uint32_t crc, const char* data, size_t n) {
  // Violating the REQUIRES must not execute an unsupported instruction, so an
  // unavailable backend degrades to the portable kernel (same result).
  const ExtendFn fn = Available(backend);
  return fn != nullptr ? fn(crc, data, n) : ExtendPortable(crc, data, n);
}

}  // namespace crc32c
}  // namespace bundlefast
