#!/usr/bin/env bash
# Cross-compiles tests/arm64/crc32c_check.cc with the CRC32C sources for
# AArch64 and runs it under qemu-user (Debian: g++-aarch64-linux-gnu,
# qemu-user): the arm64 kernels are checked on every CI run although CI runs
# on x86-64. Fails when the toolchain is missing unless
# BUNDLEFAST_SKIP_ARM64=1 says to leave the check out.
#
#   tests/arm64/run.sh
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${BUNDLEFAST_ARM64_DIR:-$src/build/arm64}
if [ "${BUNDLEFAST_SKIP_ARM64:-0}" = 1 ]; then
  echo "arm64: left out (BUNDLEFAST_SKIP_ARM64=1)"
  exit 0
fi
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  if ! command -v "$tool" >/dev/null; then
    echo "arm64: $tool is needed (Debian: apt-get install g++-aarch64-linux-gnu qemu-user)" >&2
    exit 2
  fi
done
mkdir -p "$out"
# The same flags CMake gives each file: only the kernel file gets +crc, so the
# dispatch and the probe are checked as they ship.
common=(-std=c++17 -O2 -Wall -Wextra -Werror -I"$src/csrc" -DHAVE_SSE42=0 -DHAVE_ARM64_CRC32C=1)
objs=()
for f in crc32c crc32c_portable cpu_features; do
  aarch64-linux-gnu-g++ "${common[@]}" -c "$src/csrc/$f.cc" -o "$out/$f.o"
  objs+=("$out/$f.o")
done
aarch64-linux-gnu-g++ "${common[@]}" -march=armv8-a+crc -c "$src/csrc/crc32c_arm64.cc" -o "$out/crc32c_arm64.o"
aarch64-linux-gnu-g++ "${common[@]}" -c "$src/tests/arm64/crc32c_check.cc" -o "$out/crc32c_check.o"
aarch64-linux-gnu-g++ -static -o "$out/crc32c_check" "$out/crc32c_check.o" "$out/crc32c_arm64.o" "${objs[@]}"
# qemu's default AArch64 CPU ("max") has the CRC32 extension and reports it in HWCAP.
qemu-aarch64 "$out/crc32c_check"
