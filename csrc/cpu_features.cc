// bundlefast: CPUID / auxiliary-vector probes behind cpu_features.h.
//
// Why the OS and not the instruction: on AArch64 reading the ID registers
// from user space traps unless the kernel emulates it, so the supported way
// is the HWCAP bits the kernel publishes (google/crc32c
// src/crc32c_arm64_check.h does the same).
#include "cpu_features.h"

#if defined(__x86_64__) || defined(_M_X64)
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

#if defined(__aarch64__) || defined(_M_ARM64)
#if defined(__linux__)
#include <sys/auxv.h>
#elif defined(__APPLE__)
#include <sys/sysctl.h>
#endif
#endif

namespace bundlefast {

bool CanUseSse42() {
#if defined(__x86_64__) || defined(_M_X64)
  constexpr unsigned kSse42Bit = 1u << 20;  // CPUID.01H:ECX.SSE4_2
#if defined(_MSC_VER)
  int regs[4] = {0, 0, 0, 0};  // eax, ebx, ecx, edx
  __cpuid(regs, 0);
  if (regs[0] < 1) return false;
  __cpuid(regs, 1);
  return (static_cast<unsigned>(regs[2]) & kSse42Bit) != 0;
#else
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  // __get_cpuid checks the maximum supported leaf first.
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (ecx & kSse42Bit) != 0;
#endif
#else
  return false;
#endif
}

bool CanUseArm64Crc32() {
#if defined(__aarch64__) && defined(__linux__)
  // <asm/hwcap.h> has this, but old kernels' headers may not; the bit's value
  // is fixed ABI.
  constexpr unsigned long kHwcapCrc32 = 1ul << 7;  // HWCAP_CRC32
  return (getauxval(AT_HWCAP) & kHwcapCrc32) != 0;
#elif defined(__aarch64__) && defined(__APPLE__)
  int has_crc32 = 0;
  size_t size = sizeof(has_crc32);
  if (sysctlbyname("hw.optional.armv8_crc32", &has_crc32, &size, nullptr, 0) != 0) return false;
  return has_crc32 != 0;
#else
  return false;
#endif
}

}  // namespace bundlefast
