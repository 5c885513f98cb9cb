"""A data shard truncated after it was mapped must not kill the process.

Touching a page of a mapping past the file's new end raises SIGBUS. Every read of mapped
bytes that the C++ core does itself (checksums, copies, byte swapping, string and variant
decoding, slice assembly) runs under a guard that turns that SIGBUS into
``BundleOSError`` (errno EIO) naming the file and the tensor; the process, and the
reader, carry on. Zero-copy views are the documented exception: NumPy reads them in its
own code, so the last tests show, in a child process, that touching a view of a
truncated file still dies of SIGBUS (use ``copy=True`` or ``verify=True`` when files may
change), and that the guard does not swallow SIGBUS it does not own.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bundlefast
from bundle_builder import BundleBuilder
from bundlefast import errors

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGBUS"), reason="POSIX only")

KEEP = 4096  # the cut: everything but the first page goes


def _build(tmp_path, *, big_endian: bool = False):
    b = BundleBuilder(big_endian=big_endian)
    b.add("first", np.arange(4, dtype=np.float32))  # in the first page: reading it maps the shard
    b.add("big", np.arange(1 << 16, dtype=np.float32))  # 256 KiB, almost all past the cut
    b.add("strings", [b"x" * 5000] * 10)
    b.add_variant("variant", [b"\x0a\x03abc" * 900] * 4)
    rows = np.arange(64 * 512, dtype=np.float32).reshape(64, 512)
    b.add_slice("parted", (64, 512), [(0, 32), (0, -1)], rows[:32])
    b.add_slice("parted", (64, 512), [(32, 32), (0, -1)], rows[32:])
    return b.write(tmp_path / "m")


def _open_then_truncate(written):
    reader = bundlefast.open(written.index_path.with_suffix(""))
    assert reader.get_array("first").tolist() == [0, 1, 2, 3]  # maps the shard
    os.truncate(written.data_paths[0], KEEP)
    return reader


READS = {
    "verify": lambda r, n: r.get_array(n, verify=True),
    "copy": lambda r, n: r.get_array(n, copy=True),
    "Reader.verify": lambda r, n: r.verify([n]),
    "load": lambda r, n: r.load([n], verify=True, copy=True),
    "region-verify": lambda r, n: r.get_slice(n, verify=True)[-3:],
    "region-copy": lambda r, n: r.get_slice(n, copy=True)[-3:],
}


@pytest.mark.parametrize("how", list(READS))
@pytest.mark.parametrize("name", ["big", "strings", "variant", "parted"])
def test_guarded_reads_raise_instead_of_dying(tmp_path, name, how):
    reader = _open_then_truncate(_build(tmp_path))
    with reader:
        with pytest.raises(errors.BundleOSError, match=r"m\.data-00000-of-00001: .*could not be read: the file "
                                                       r"was truncated after it was opened \(SIGBUS\)") as info:
            READS[how](reader, name)
        assert info.value.errno == errno.EIO
        assert info.value.filename.endswith("m.data-00000-of-00001")
        # The reader and the process are fine: the first page is still there.
        assert reader.get_array("first", verify=True).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("name", ["strings", "variant", "parted"])
def test_reads_that_always_touch_bytes_are_guarded_without_verify_or_copy(tmp_path, name):
    """String and variant arrays copy their elements, partitioned tensors are assembled:
    even the default read touches the mapped bytes, under the guard."""
    with _open_then_truncate(_build(tmp_path)) as reader, pytest.raises(errors.BundleOSError, match="truncated"):
        reader.get_array(name)


def test_big_endian_byte_swap_is_guarded(tmp_path):
    with _open_then_truncate(_build(tmp_path, big_endian=True)) as reader:
        with pytest.raises(errors.BundleOSError, match=r"'big' \(offset 16, 262144 bytes\) could not be read"):
            reader.get_array("big")  # always a swapping copy on this (little-endian) host


def test_error_names_the_tensor_of_a_slice(tmp_path):
    with _open_then_truncate(_build(tmp_path)) as reader:
        with pytest.raises(errors.BundleOSError, match=r"slice 0,32:- of 'parted'"):
            reader.get_array("parted", verify=True)


def _child(tmp_path, body: str) -> subprocess.CompletedProcess:
    written = _build(tmp_path)
    code = textwrap.dedent(f"""
        import os, sys
        import bundlefast
        from bundlefast import errors
        reader = bundlefast.open({str(written.index_path.with_suffix(''))!r})
        view = reader.get_array("big")          # zero-copy, nothing read yet
        os.truncate({str(written.data_paths[0])!r}, {KEEP})
    """) + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)


def test_touching_a_zero_copy_view_of_a_truncated_file_still_dies(tmp_path):
    """The documented limit: NumPy reads views in its own code, unguarded."""
    out = _child(tmp_path, """
        try:
            reader.get_array("big", verify=True)   # guarded: raises, and installs the handler
        except errors.BundleOSError:
            print("guarded read raised", flush=True)
        print(float(view.sum()))                   # unguarded: SIGBUS in NumPy
    """)
    assert "guarded read raised" in out.stdout
    assert out.returncode == -signal.SIGBUS, (out.returncode, out.stderr[-2000:])
    # The fault went on to the handler installed before ours (faulthandler), which reported it.
    assert "Bus error" in out.stderr


def test_copy_true_is_the_safe_path(tmp_path):
    out = _child(tmp_path, """
        try:
            reader.get_array("big", copy=True)
        except errors.BundleOSError as e:
            print("raised", e.errno, flush=True)
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "raised 5" in out.stdout


def test_the_guard_survives_faulthandler_being_disabled(tmp_path):
    """faulthandler.disable() restores the handler from before faulthandler: if that was
    the default, ours is gone. The next read puts it back."""
    out = _child(tmp_path, """
        import faulthandler
        try:
            reader.get_array("big", copy=True)      # installs ours after faulthandler's
        except errors.BundleOSError:
            print("first raised", flush=True)
        faulthandler.disable()                     # back to SIG_DFL: ours is dropped
        try:
            reader.get_array("big", verify=True)
        except errors.BundleOSError:
            print("second raised", flush=True)
    """)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert "first raised" in out.stdout and "second raised" in out.stdout
