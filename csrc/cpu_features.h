// bundlefast: run-time CPU feature probes that decide which CRC32C kernel is
// safe to call.
//
// Compiled without ISA flags: a probe must run on every CPU, including those
// that lack the feature it asks about. Each call executes the probe again
// (CPUID or getauxval); callers cache the answer (crc32c.cc does, once).
#ifndef BUNDLEFAST_CSRC_CPU_FEATURES_H_
#define BUNDLEFAST_CSRC_CPU_FEATURES_H_

namespace bundlefast {

// True on an x86-64 CPU whose CPUID reports SSE4.2 (leaf 1, ECX bit 20), the
// extension that holds the crc32 instruction. False on any other CPU.
bool CanUseSse42();

// True on an AArch64 CPU that has the CRC32 extension (FEAT_CRC32), as the OS
// reports it: AT_HWCAP & HWCAP_CRC32 on Linux and Android, the
// hw.optional.armv8_crc32 sysctl on Apple platforms. False elsewhere,
// including on AArch64 systems with no known way to ask.
bool CanUseArm64Crc32();

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_CPU_FEATURES_H_
