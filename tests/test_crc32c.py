"""CRC-32C kernels, masking and combining (bundlefast._core).

Every kernel-level test runs once per backend ("auto", "portable", "sse42",
"arm64"), skipping those this build or CPU lacks, and every kernel must agree
with an independent reference: a slow pure-Python CRC here and, where
installed, the `crc32c` PyPI package. Model: google/crc32c
src/crc32c_extend_unittests.h. On x86-64 the arm64 cases skip; CI checks that
kernel under qemu-user instead (tests/arm64/run.sh).
"""

from __future__ import annotations

import platform
import random
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest

from bundlefast import _core

IMPLS = ["auto", "portable", "sse42", "arm64"]

# Block sizes of the 3-way hardware kernels (csrc/crc32c_internal.h): lengths
# around these multiples cross from one loop to the next.
SHORT3 = 3 * 320
MEDIUM3 = 3 * 1344
LONG3 = 3 * 5440


# --- Independent reference -----------------------------------------------------


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def ref_crc32c(data: bytes, crc: int = 0) -> int:
    """Byte-at-a-time CRC-32C (RFC 3720): slow, obviously correct."""
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def ref_mask(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _reflect32(v: int) -> int:
    return int(f"{v:032b}"[::-1], 2)


def ref_combine(crc_a: int, crc_b: int, len_b: int) -> int:
    """crc(A || B) = crc(A) * x^(8 * len_b) + crc(B) mod P, computed with
    plain (non-reflected) polynomials as Python ints: a different route from
    the C++ (reflected, table of x^(2^k)), so the two check each other."""
    poly = 0x11EDC6F41  # x^32 + ... (0x1EDC6F41 with the x^32 term)

    def mulmod(a: int, b: int) -> int:
        product = 0
        while b:
            if b & 1:
                product ^= a
            b >>= 1
            a <<= 1
            if a >> 32:
                a ^= poly
        return product

    power, base, e = 1, 2, 8 * len_b  # x^0, x^1, exponent
    while e:
        if e & 1:
            power = mulmod(power, base)
        base = mulmod(base, base)
        e >>= 1
    # Register bit i holds the coefficient of x^(31 - i).
    return _reflect32(mulmod(_reflect32(crc_a), power)) ^ crc_b


def random_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


# --- Fixtures --------------------------------------------------------------------


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name != "auto" and name not in _core._crc32c_backends():
        pytest.skip(f"CRC32C backend {name!r} is not available here")
    return name


@pytest.fixture(scope="module")
def pypi_crc32c() -> ModuleType:
    """ICRAR's `crc32c` package, the external oracle: a hard requirement of
    the test extra, so a missing package fails here instead of skipping."""
    import crc32c

    return crc32c


# --- Known values ------------------------------------------------------------------

# FORMAT.md section 15.1, and RFC 3720 appendix B.4.
KNOWN = [
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),
    (b"\x00" * 32, 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (b"\x00\x00\x80\x3f", 0xDD54C4AB),
    (b"\x00\x00\x00\x00\x01\x00\x00\x00\x00", 0x83F4070F),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
    (
        bytes.fromhex(
            "01c00000000000000000000000000000"
            "14000000000004000000001400000018"
            "28000000000000000200000000000000"
        ),
        0xD9963A56,
    ),
]


@pytest.mark.parametrize(("data", "expected"), KNOWN)
def test_known_vectors(impl: str, data: bytes, expected: int) -> None:
    assert ref_crc32c(data) == expected  # the reference itself
    assert _core._crc32c_extend(data, 0, impl) == expected
    assert _core.crc32c(data) == expected


# FORMAT.md section 15.1: crc -> Mask(crc) and the stored little-endian bytes.
MASKS = [
    (0x00000000, 0xA282EAD8, "d8ea82a2"),
    (0xE3069283, 0xC78AB0E5, "e5b08ac7"),
    (0x8A9136AA, 0x0FD7FFFA, "faffd70f"),
    (0x62A8AB43, 0xF909B029, "29b009f9"),
    (0xDD54C4AB, 0x2BDAA581, "81a5da2b"),
    (0x83F4070F, 0xB0A1F2C0, "c0f2a1b0"),
    (0x12345678, 0x4F730F40, None),
    (0xFFFFFFFF, 0xA282EAD7, None),
]


@pytest.mark.parametrize(("crc", "masked", "stored"), MASKS)
def test_mask_unmask_values(crc: int, masked: int, stored: str | None) -> None:
    assert _core.mask_crc32c(crc) == masked
    assert _core.unmask_crc32c(masked) == crc
    if stored is not None:
        assert masked.to_bytes(4, "little").hex() == stored


def test_mask_roundtrip_random() -> None:
    rng = random.Random(15)
    for crc in [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, *(rng.getrandbits(32) for _ in range(2000))]:
        masked = _core.mask_crc32c(crc)
        assert masked == ref_mask(crc)
        assert _core.unmask_crc32c(masked) == crc
    # Masking changes the value: a masked CRC is not the CRC.
    assert _core.mask_crc32c(0xE3069283) != 0xE3069283


@pytest.mark.parametrize(("data", "expected"), KNOWN)
def test_masked_crc32c(data: bytes, expected: int) -> None:
    assert _core.masked_crc32c(data) == ref_mask(expected)


# --- Kernels against the reference ----------------------------------------------------


def test_every_length_against_reference(impl: str) -> None:
    """Lengths 0..300 cover the byte, 8-byte and head/tail paths; the rest
    cross into the 3-way short- and medium-block loops."""
    data = random_bytes(MEDIUM3 + 100, seed=1)
    for n in [*range(301), *range(SHORT3 - 70, SHORT3 + 70, 3), *range(MEDIUM3 - 40, len(data), 9)]:
        chunk = data[:n]
        seed = (n * 2654435761) & 0xFFFFFFFF  # a non-trivial incoming CRC
        assert _core._crc32c_extend(chunk, seed, impl) == ref_crc32c(chunk, seed), n


LARGE_LENGTHS = [
    SHORT3 - 1,
    SHORT3,
    SHORT3 + 1,
    SHORT3 * 2 + 7,
    MEDIUM3,
    MEDIUM3 + SHORT3 + 63,
    4096,
    16384,
    LONG3 - 1,
    LONG3,
    LONG3 + 1,
    LONG3 + MEDIUM3 + SHORT3 + 9,
    2 * LONG3 - 1,  # the long loop prefetches the next 3 blocks only if they exist
    2 * LONG3,
    2 * LONG3 + 1,
    3 * LONG3 + 2 * MEDIUM3 + SHORT3 - 1,
    (1 << 20) + 3,
    5_000_011,
]


def test_unaligned_against_pypi(impl: str, pypi_crc32c: ModuleType) -> None:
    """Memoryview slices at offsets 0..15 start the kernels at every
    alignment; the crc32c package is the oracle."""
    base = random_bytes(max(LARGE_LENGTHS) + 16, seed=2)
    view = memoryview(base)
    for n in [*range(301), *LARGE_LENGTHS]:
        for offset in range(16):
            if n > 4096 and offset not in (0, 1, 7, 8, 13):
                continue  # keep the large cases quick; all 8 alignments are above
            chunk = view[offset : offset + n]
            value = (n + offset) & 0xFFFF
            expected = pypi_crc32c.crc32c(chunk, value)
            assert _core._crc32c_extend(chunk, value, impl) == expected, (n, offset)


def test_large_against_portable(impl: str) -> None:
    """The portable kernel is checked against the reference above; large
    inputs then check every other kernel against it without the PyPI package."""
    data = random_bytes(4 * LONG3 + 2 * MEDIUM3 + 5 * SHORT3 + 13, seed=3)
    for n in LARGE_LENGTHS:
        if n > len(data):
            continue
        for offset in (0, 3):
            chunk = memoryview(data)[offset : offset + n]
            assert _core._crc32c_extend(chunk, 0, impl) == _core._crc32c_extend(
                chunk, 0, "portable"
            ), (n, offset)


def test_auto_matches_every_backend() -> None:
    data = random_bytes(LONG3 * 2 + 123, seed=4)
    expected = ref_crc32c(data)
    for name in _core._crc32c_backends():
        assert _core._crc32c_extend(data, 0, name) == expected, name
    assert _core._crc32c_extend(data) == expected
    assert _core.crc32c(data) == expected


# --- Fused copy + CRC (crc32c::ExtendCopy) ---------------------------------------------

GUARD = 24  # bytes of sentinel on each side of every destination


def copy_checked(src: memoryview, crc: int, impl: str, dst_offset: int) -> int:
    """Runs _crc32c_copy into a sentinel-filled buffer at `dst_offset` and
    checks that exactly the destination bytes changed, to src's bytes."""
    n = len(src)
    buf = bytearray(b"\xa5" * (GUARD + dst_offset + n + GUARD))
    dst = memoryview(buf)[GUARD + dst_offset : GUARD + dst_offset + n]
    result = _core._crc32c_copy(dst, src, crc, impl)
    assert buf[GUARD + dst_offset : GUARD + dst_offset + n] == src, (n, dst_offset)
    assert buf[: GUARD + dst_offset] == b"\xa5" * (GUARD + dst_offset), "wrote before dst"
    assert buf[GUARD + dst_offset + n :] == b"\xa5" * GUARD, "wrote after dst"
    return result


def test_copy_every_length_and_alignment(impl: str, pypi_crc32c: ModuleType) -> None:
    """Every length to 300 and around the 3-way block sizes, at source and
    destination offsets 0..15 independently (the kernel aligns the source, so
    the destination's alignment varies against it); bytes against the source,
    CRC against the crc32c package, nothing written outside dst."""
    base = random_bytes(max(LARGE_LENGTHS) + 16, seed=20)
    view = memoryview(base)
    for n in [*range(301), *LARGE_LENGTHS]:
        pairs = [(s, d) for s in range(16) for d in range(16)] if n <= 64 else [(s, (s * 5 + n) % 16) for s in range(16)]
        if n > 4096:
            pairs = [(0, 0), (1, 0), (0, 3), (7, 8), (13, 2)]
        for src_offset, dst_offset in pairs:
            src = view[src_offset : src_offset + n]
            value = (n * 31 + src_offset) & 0xFFFFFFFF
            got = copy_checked(src, value, impl, dst_offset)
            assert got == pypi_crc32c.crc32c(src, value), (n, src_offset, dst_offset)


def test_copy_matches_extend_and_reference(impl: str) -> None:
    """The fused copy returns what Extend returns on the same bytes, and the
    slow reference agrees on the lengths it can afford."""
    data = random_bytes(3 * LONG3 + 2 * MEDIUM3 + SHORT3 + 11, seed=21)
    for n in [0, 1, 9, SHORT3 + 5, MEDIUM3 * 3 + 1, 2 * LONG3 + 3, len(data)]:
        src = memoryview(data)[:n]
        dst = bytearray(n)
        crc = _core._crc32c_copy(dst, src, 0xDEADBEEF, impl)
        assert dst == src
        assert crc == _core._crc32c_extend(src, 0xDEADBEEF, impl) == _core._crc32c_extend(src, 0xDEADBEEF, "portable")
        if n <= MEDIUM3 * 3 + 1:
            assert crc == ref_crc32c(bytes(src), 0xDEADBEEF)


def test_copy_in_pieces_composes(impl: str) -> None:
    """Copying a buffer in pieces, threading the CRC through, gives the whole
    buffer's CRC and bytes: how a writer streams a tensor into its buffer."""
    data = random_bytes(2 * LONG3 + 777, seed=22)
    rng = random.Random(23)
    for _ in range(10):
        cuts = sorted({0, len(data), *(rng.randrange(len(data)) for _ in range(3))})
        dst = bytearray(len(data))
        crc = 0
        for lo, hi in zip(cuts, cuts[1:]):
            crc = _core._crc32c_copy(memoryview(dst)[lo:hi], memoryview(data)[lo:hi], crc, impl)
        assert dst == data
        assert crc == _core._crc32c_extend(data, 0, "portable"), cuts


def test_copy_large_into_numpy(impl: str, pypi_crc32c: ModuleType) -> None:
    """Above the GIL-release threshold, into a NumPy array (how the reader
    copies): bytes and CRC."""
    np = pytest.importorskip("numpy")
    src = np.frombuffer(random_bytes(5_000_011, seed=24), dtype=np.uint8)
    dst = np.empty_like(src)
    assert _core._crc32c_copy(dst, src, 0, impl) == pypi_crc32c.crc32c(src)
    assert np.array_equal(dst, src)


@pytest.mark.parametrize("destination", ["fresh mapping", "mapped in"])
def test_copy_large_into_fresh_and_mapped_memory(impl: str, destination: str, pypi_crc32c: ModuleType) -> None:
    """From 4 MiB up the SSE4.2 copy streams past the cache into memory that is
    already mapped in and stores through it into fresh pages: both paths, at
    a destination offset that is not 8-aligned."""
    import mmap

    np = pytest.importorskip("numpy")
    n = (6 << 20) + 13
    src = np.frombuffer(random_bytes(n + 5, seed=26), dtype=np.uint8)[5:]
    m = mmap.mmap(-1, n + 64)
    dst = np.frombuffer(m, dtype=np.uint8)[3 : 3 + n]
    if destination == "mapped in":
        dst[:] = 0x5A  # every page faulted in
    assert _core._crc32c_copy(dst, src, 7, impl) == pypi_crc32c.crc32c(src, 7)
    assert np.array_equal(dst, src)
    whole = np.frombuffer(m, dtype=np.uint8)
    assert not whole[:3].any() and not whole[3 + n :].any(), "wrote outside dst"
    del dst, whole


def test_copy_rejects_bad_arguments() -> None:
    data = bytearray(random_bytes(100, seed=25))
    with pytest.raises(ValueError, match="same size"):
        _core._crc32c_copy(bytearray(99), data)
    with pytest.raises(ValueError, match="overlap"):
        _core._crc32c_copy(memoryview(data)[10:60], memoryview(data)[40:90])
    with pytest.raises(ValueError, match="overlap"):
        _core._crc32c_copy(data, data)
    with pytest.raises(BufferError):
        _core._crc32c_copy(bytes(100), data)  # read-only destination
    with pytest.raises(BufferError):
        _core._crc32c_copy(bytearray(50), memoryview(data)[::2])
    with pytest.raises(ValueError, match="unknown CRC32C backend"):
        _core._crc32c_copy(bytearray(100), data, 0, "avx512")
    assert data == random_bytes(100, seed=25), "a refused call must not write"
    # Adjacent but not overlapping is fine.
    _core._crc32c_copy(memoryview(data)[:50], memoryview(data)[50:])
    assert data[:50] == data[50:]


def test_concurrent_copies_agree() -> None:
    """Large copies release the GIL; concurrent ones must not interfere."""
    buffers = [random_bytes((1 << 20) + 3 * i, seed=200 + i) for i in range(4)]
    expected = [_core._crc32c_extend(b, 0, "portable") for b in buffers]
    results: dict[int, list[bool]] = {}

    def work(i: int) -> None:
        out = []
        for _ in range(10):
            dst = bytearray(len(buffers[i]))
            out.append(_core._crc32c_copy(dst, buffers[i]) == expected[i] and dst == buffers[i])
        results[i] = out

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(buffers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: [True] * 10 for i in range(len(buffers))}


# --- Streaming composition ------------------------------------------------------------


def test_extend_composition(impl: str) -> None:
    """Extend(Value(A), B) == Value(A || B) at every split point."""
    data = random_bytes(300, seed=5)
    whole = ref_crc32c(data)
    for split in range(len(data) + 1):
        head = _core._crc32c_extend(data[:split], 0, impl)
        assert _core._crc32c_extend(data[split:], head, impl) == whole, split


def test_split_point_invariance_large(impl: str) -> None:
    """Splitting a large buffer anywhere, including mid-block of the 3-way
    loops, into two or three pieces gives the same CRC."""
    data = random_bytes(3 * LONG3 + 2 * MEDIUM3 + 2 * SHORT3 + 5, seed=6)
    view = memoryview(data)
    whole = _core._crc32c_extend(data, 0, "portable")
    rng = random.Random(7)
    splits = [1, 7, 8, SHORT3, SHORT3 + 1, MEDIUM3 + 2, LONG3 - 3, LONG3, LONG3 + 5, len(data) - 1]
    splits += [rng.randrange(len(data) + 1) for _ in range(20)]
    for split in splits:
        crc = _core._crc32c_extend(view[:split], 0, impl)
        assert _core._crc32c_extend(view[split:], crc, impl) == whole, split
    for _ in range(10):
        a, b = sorted(rng.randrange(len(data) + 1) for _ in range(2))
        crc = 0
        for piece in (view[:a], view[a:b], view[b:]):
            crc = _core._crc32c_extend(piece, crc, impl)
        assert crc == whole, (a, b)


def test_value_argument_matches_pypi(pypi_crc32c: ModuleType) -> None:
    """`value` means "CRC of preceding data", exactly as in the crc32c package."""
    a, b = b"hello ", b"world"
    assert _core.crc32c(b, _core.crc32c(a)) == _core.crc32c(a + b)
    rng = random.Random(8)
    for _ in range(200):
        value = rng.getrandbits(32)
        data = rng.randbytes(rng.randrange(100))
        assert _core.crc32c(data, value) == pypi_crc32c.crc32c(data, value)


# --- Combine ----------------------------------------------------------------------------


def test_combine_random_splits() -> None:
    rng = random.Random(9)
    data = random_bytes(3 * LONG3, seed=10)
    for _ in range(300):
        n = rng.randrange(len(data) + 1)
        k = rng.randrange(n + 1)
        a, b = data[:k], data[k:n]
        combined = _core.crc32c_combine(_core.crc32c(a), _core.crc32c(b), len(b))
        assert combined == _core.crc32c(data[:n]), (n, k)


def test_combine_edge_cases() -> None:
    crc_a = _core.crc32c(b"123456789")
    # An empty B leaves A's CRC unchanged; an empty A contributes nothing.
    assert _core.crc32c_combine(crc_a, 0, 0) == crc_a
    assert _core.crc32c_combine(0, crc_a, 9) == crc_a
    # Large zero runs: crc(A || zeros) through Combine and through Extend.
    zeros = bytes(3 << 20)
    assert _core.crc32c_combine(crc_a, _core.crc32c(zeros), len(zeros)) == _core.crc32c(
        zeros, crc_a
    )


def test_combine_many_pieces_like_threads() -> None:
    """How a multi-threaded verify uses it: checksum pieces independently,
    fold left with Combine."""
    data = random_bytes(1_000_003, seed=11)
    bounds = [0, 1, 4096, 65_537, 333_333, 999_999, len(data)]
    crc = 0
    for lo, hi in zip(bounds, bounds[1:]):
        crc = _core.crc32c_combine(crc, _core.crc32c(data[lo:hi]), hi - lo)
    assert crc == _core._crc32c_extend(data, 0, "portable")


def test_combine_matches_reference() -> None:
    rng = random.Random(12)
    data = random_bytes(5000, seed=14)
    for _ in range(50):  # first the reference against real data
        k = rng.randrange(len(data) + 1)
        crc_a, crc_b = ref_crc32c(data[:k]), ref_crc32c(data[k:])
        assert ref_combine(crc_a, crc_b, len(data) - k) == ref_crc32c(data)
    # Then lengths no buffer here can have: every bit of the 64-bit length.
    lengths = [1 << 31, 1 << 32, (1 << 32) + 1, (1 << 40) + 5, (1 << 62) + 12345, (1 << 64) - 1]
    lengths += [rng.getrandbits(64) for _ in range(50)]
    for len_b in lengths:
        crc_a, crc_b = rng.getrandbits(32), rng.getrandbits(32)
        assert _core.crc32c_combine(crc_a, crc_b, len_b) == ref_combine(crc_a, crc_b, len_b), len_b


def test_combine_huge_lengths_are_associative() -> None:
    """(A||B)||C == A||(B||C) for lengths past 2^32 and 2^62."""
    rng = random.Random(13)
    for len_c in [1 << 32, (1 << 40) + 5, (1 << 62) + 12345, (1 << 64) - 1000]:
        crc_a, crc_b, crc_c = (rng.getrandbits(32) for _ in range(3))
        len_b = 999
        left = _core.crc32c_combine(_core.crc32c_combine(crc_a, crc_b, len_b), crc_c, len_c)
        right = _core.crc32c_combine(crc_a, _core.crc32c_combine(crc_b, crc_c, len_c), len_b + len_c)
        assert left == right, len_c


# --- Argument handling ---------------------------------------------------------------------


def test_buffer_types() -> None:
    data = random_bytes(70_000, seed=13)  # above the GIL-release threshold
    expected = ref_crc32c(data)
    assert _core.crc32c(bytearray(data)) == expected
    assert _core.crc32c(memoryview(data)) == expected
    np = pytest.importorskip("numpy")
    arr = np.frombuffer(data, dtype=np.uint8).copy()
    assert _core.crc32c(arr) == expected
    assert _core.crc32c(arr.view(np.float32)[: len(data) // 4]) == ref_crc32c(
        data[: len(data) // 4 * 4]
    )


def test_rejects_non_contiguous_and_non_buffers() -> None:
    with pytest.raises(BufferError):
        _core.crc32c(memoryview(b"abcdefgh")[::2])
    with pytest.raises(TypeError):
        _core.crc32c("not bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _core.crc32c(b"x", 1 << 32)
    with pytest.raises(TypeError):
        _core.crc32c(b"x", -1)


def test_unknown_and_unavailable_backends_raise() -> None:
    with pytest.raises(ValueError, match="unknown CRC32C backend"):
        _core._crc32c_extend(b"x", 0, "avx512")
    missing = [b for b in ("sse42", "arm64") if b not in _core._crc32c_backends()]
    assert missing, "no platform has both the SSE4.2 and the AArch64 kernel"
    with pytest.raises(ValueError, match="not available"):
        _core._crc32c_extend(b"x", 0, missing[0])


def test_backends_and_active() -> None:
    backends = _core._crc32c_backends()
    assert backends[0] == "portable"
    assert _core._crc32c_active() in backends
    if len(backends) > 1:
        assert _core._crc32c_active() != "portable", "dispatch ignored a hardware kernel"


def _cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    if not sys.platform.startswith("linux") or not cpuinfo.exists():
        return set()
    flags: set[str] = set()
    for line in cpuinfo.read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return flags


def test_dispatch_uses_the_hardware_kernel() -> None:
    """A wheel built for x86-64 / AArch64 must pick the CRC instruction when
    the CPU has it, or every verify runs at a tenth of the speed."""
    machine = platform.machine().lower()
    flags = _cpu_flags()
    if machine in ("x86_64", "amd64") and "sse4_2" in flags:
        assert _core._crc32c_active() == "sse42"
    elif machine in ("aarch64", "arm64") and "crc32" in flags:
        assert _core._crc32c_active() == "arm64"
    else:
        pytest.skip(f"no known CRC instruction to expect on {machine}")


def test_concurrent_calls_agree() -> None:
    """Large calls release the GIL; concurrent ones must not interfere."""
    buffers = [random_bytes((1 << 20) + i, seed=100 + i) for i in range(4)]
    expected = [_core._crc32c_extend(b, 0, "portable") for b in buffers]
    results: dict[int, list[int]] = {}

    def work(i: int) -> None:
        results[i] = [_core.crc32c(buffers[i]) for _ in range(20)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(buffers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, crcs in results.items():
        assert set(crcs) == {expected[i]}
    assert len(results) == len(buffers)
