// bundlefast: the AArch64 CRC32C kernels checked where no AArch64 machine is:
// cross-compiled by run.sh and run under qemu-user. The Python suite's
// arm64 cases skip on x86-64, so without this the kernel behind every
// checksum on an ARM server would ship untested.
//
// Every check compares the arm64 kernel with the portable one (itself checked
// against the crc32c package and RFC 3720 vectors in tests/test_crc32c.py)
// over lengths around the 3-way block sizes, every source/destination
// misalignment, and chained calls; exits non-zero if the arm64 kernel is not
// the one in use, so a build that dropped it cannot pass.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "crc32c.h"

namespace {

using bundlefast::crc32c::Backend;
int failures = 0;

void Expect(bool ok, const char* what, size_t n, size_t a, size_t b) {
  if (!ok && failures++ < 20) std::printf("FAIL %s n=%zu src_off=%zu dst_off=%zu\n", what, n, a, b);
}

}  // namespace

int main() {
  namespace c = bundlefast::crc32c;
  if (!c::BackendAvailable(Backend::kArm64) || c::ActiveBackend() != Backend::kArm64) {
    std::printf("FAIL: the arm64 kernel is not available or not active (active: %s)\n",
                c::BackendName(c::ActiveBackend()));
    return 1;
  }
  // RFC 3720 B.4 and the classic check value.
  const char digits[] = "123456789";
  Expect(c::Value(digits, 9) == 0xe3069283u, "check value", 9, 0, 0);
  std::vector<char> zeros(32, 0), ones(32, '\xff');
  Expect(c::Value(zeros.data(), 32) == 0x8a9136aau, "32 zeros", 32, 0, 0);
  Expect(c::Value(ones.data(), 32) == 0x62a8ab43u, "32 0xff", 32, 0, 0);

  std::mt19937_64 rng(20261207);
  const size_t kMax = (1u << 20) + 4099;
  std::vector<char> src(kMax + 64), dst(kMax + 64), want_dst(kMax + 64);
  for (char& ch : src) ch = static_cast<char>(rng());

  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 1100; ++n) lengths.push_back(n);
  // Around the 3-way kernels' short, medium and long blocks (3 x 256, 3 x 4096, 3 x 32768 bytes).
  for (size_t block : {256u, 4096u, 32768u})
    for (size_t k = 1; k <= 4; ++k)
      for (long d = -9; d <= 9; ++d) lengths.push_back(static_cast<size_t>(static_cast<long>(3 * block * k) + d));
  lengths.push_back(kMax);

  size_t checked = 0;
  for (size_t n : lengths) {
    const size_t offsets = n <= 1100 ? 8 : 16;  // every misalignment of an 8-byte load, and more for big ones
    for (size_t a = 0; a < offsets; ++a) {
      const size_t b = (a * 5 + n) % 16;
      const uint32_t seed = static_cast<uint32_t>(rng());
      const uint32_t want = c::ExtendWith(Backend::kPortable, seed, src.data() + a, n);
      Expect(c::ExtendWith(Backend::kArm64, seed, src.data() + a, n) == want, "Extend", n, a, b);
      const size_t end = b + n + 64;  // a kernel overrun would land just past the end
      std::fill(dst.begin(), dst.begin() + end, 0x5a);
      Expect(c::ExtendCopyWith(Backend::kArm64, seed, dst.data() + b, src.data() + a, n) == want, "ExtendCopy crc", n,
             a, b);
      Expect(std::memcmp(dst.data() + b, src.data() + a, n) == 0, "ExtendCopy bytes", n, a, b);
      // Nothing written around [dst + b, dst + b + n).
      bool fence = true;
      for (size_t i = 0; i < b; ++i) fence &= dst[i] == 0x5a;
      for (size_t i = b + n; i < end; ++i) fence &= dst[i] == 0x5a;
      Expect(fence, "ExtendCopy stays in bounds", n, a, b);
      ++checked;
    }
  }
  // Chained calls equal one call, and Combine joins pieces.
  for (size_t split : {0u, 1u, 7u, 768u, 12289u, 99999u}) {
    const size_t n = 200000;
    const uint32_t whole = c::ExtendWith(Backend::kArm64, 0, src.data(), n);
    const uint32_t left = c::ExtendWith(Backend::kArm64, 0, src.data(), split);
    Expect(c::ExtendWith(Backend::kArm64, left, src.data() + split, n - split) == whole, "chained", n, split, 0);
    const uint32_t right = c::ExtendWith(Backend::kArm64, 0, src.data() + split, n - split);
    Expect(c::Combine(left, right, n - split) == whole, "Combine", n, split, 0);
  }
  std::printf("arm64 CRC32C: %zu length/alignment cases, %s\n", checked, failures ? "FAILED" : "all agree");
  return failures ? 1 : 0;
}
