// bundlefast: CRC32C run-time dispatch: probe the CPU once, then send every
// Extend() to the fastest kernel this binary has and this CPU can run.
//
// The build decides which kernels exist (HAVE_SSE42 / HAVE_ARM64_CRC32C, set
// by CMake's compile probes); the CPU decides which of those may run. Only
// the kernel files carry ISA flags, so this file, and the probe, run on any
// CPU of the target architecture (google/crc32c src/crc32c.cc is the model).
#include "crc32c.h"

#include <cstdint>
#include <initializer_list>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

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
using ExtendCopyFn = uint32_t (*)(uint32_t crc, char* dst, const char* src, size_t n);

// One backend's entry points; both null if this binary lacks the backend or
// the CPU cannot run it.
struct Kernel {
  ExtendFn extend;
  ExtendCopyFn extend_copy;
};

constexpr Kernel kPortableKernel = {&ExtendPortable, &ExtendCopyPortable};

Kernel KernelFor(Backend backend) {
  switch (backend) {
    case Backend::kPortable:
      return kPortableKernel;
    case Backend::kSse42:
#if HAVE_SSE42
      if (CanUseSse42()) return {&ExtendSse42, &ExtendCopySse42};
#endif
      return {nullptr, nullptr};
    case Backend::kArm64:
#if HAVE_ARM64_CRC32C
      if (CanUseArm64Crc32()) return {&ExtendArm64, &ExtendCopyArm64};
#endif
      return {nullptr, nullptr};
  }
  return {nullptr, nullptr};
}

// Every backend's kernel, indexed by Backend. The CPU is probed once, on
// first use: C++11 makes the initialization of a function-local static
// thread-safe, so concurrent first calls are fine.
struct Kernels {
  Kernel k[3];
};
Kernel Available(Backend backend) {
  static const Kernels kernels = {{
      KernelFor(Backend::kPortable),
      KernelFor(Backend::kSse42),
      KernelFor(Backend::kArm64),
  }};
  const auto i = static_cast<unsigned>(backend);
  return i < 3 ? kernels.k[i] : Kernel{nullptr, nullptr};
}

struct Dispatch {
  Backend backend;
  Kernel kernel;
};

Dispatch Choose() {
  // At most one hardware kernel exists per architecture, so order is moot.
  for (Backend b : {Backend::kSse42, Backend::kArm64}) {
    const Kernel k = Available(b);
    if (k.extend != nullptr) return {b, k};
  }
  return {Backend::kPortable, kPortableKernel};
}

// The choice is cached the same way; afterwards every Extend() is a load
// plus an indirect call.
const Dispatch& Active() {
  static const Dispatch dispatch = Choose();
  return dispatch;
}

// The kernel of `backend`, or the portable one if it is unavailable:
// violating ExtendWith's REQUIRES must not execute an unsupported
// instruction, and the portable kernel gives the same result.
Kernel KernelOrPortable(Backend backend) {
  const Kernel k = Available(backend);
  return k.extend != nullptr ? k : kPortableKernel;
}

}  // namespace

bool DestinationMapped(const char* dst, size_t n) {
#if defined(__linux__)
  if (n == 0) return false;
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  for (const char* p : {dst, dst + n - 1}) {
    unsigned char resident = 0;
    void* start = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(p) / page * page);
    if (mincore(start, 1, &resident) != 0 || (resident & 1) == 0) return false;
  }
  return true;
#else
  (void)dst;
  (void)n;
  return false;
#endif
}

uint32_t Extend(uint32_t crc, const char* data, size_t n) { return Active().kernel.extend(crc, data, n); }

uint32_t ExtendCopy(uint32_t crc, char* dst, const char* src, size_t n) {
  return Active().kernel.extend_copy(crc, dst, src, n);
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

bool BackendAvailable(Backend backend) { return Available(backend).extend != nullptr; }

Backend ActiveBackend() { return Active().backend; }

uint32_t ExtendWith(Backend backend, uint32_t crc, const char* data, size_t n) {
  return KernelOrPortable(backend).extend(crc, data, n);
}

uint32_t ExtendCopyWith(Backend backend, uint32_t crc, char* dst, const char* src, size_t n) {
  return KernelOrPortable(backend).extend_copy(crc, dst, src, n);
}

}  // namespace crc32c
}  // namespace bundlefast
