"""Atheris harness over the public Python API (``bundlefast.open`` / ``load``).

The libFuzzer targets cover the C++ core; this one covers what only the bindings and
the Python layer do: building NumPy arrays from decoded entries (shapes NumPy cannot
represent, object arrays of strings), the exception translation, and per-tensor
isolation. The rule it enforces: every input either loads or raises a
``bundlefast.errors.BundleError`` (or ``OSError``); anything else is a bug.

Input format: the one of ``fuzz_bundle`` (fixed32 LE index length, the index, one data
shard). The index ends at its magic number, and its footer, block handles and trailer CRCs
are fixed up after a mutation (``index_fixup.py``, Snappy blocks included), so insertions
and deletions reach the parsers instead of stopping at "bad magic".

    python tests/fuzz/fuzz_load.py -atheris_runs=10000 CORPUS_DIR SEED_DIR
    python tests/fuzz/fuzz_load.py --replay FILE...     # no atheris needed
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bundlefast  # noqa: E402
from index_fixup import fix_up_index, index_length  # noqa: E402
from bundlefast.errors import BundleError  # noqa: E402

_ALLOWED = (BundleError, OSError)
_WORK: Path | None = None


def _touch(array: np.ndarray) -> None:
    """Read every byte, as a user of the array would."""
    if array.dtype == object:
        for item in array.reshape(-1):
            assert isinstance(item, bytes)
    else:
        np.ascontiguousarray(array).view(np.uint8).sum()


def run_one(data: bytes, work: Path | None = None) -> None:
    """Write the input as a bundle into `work` (default: a private temporary directory)
    and read it every way the API allows; only bundlefast errors may escape."""
    global _WORK
    if work is None:
        _WORK = _WORK or Path(tempfile.mkdtemp(prefix="bundlefast-atheris-"))
        work = _WORK
    if len(data) < 4:
        return
    n = index_length(data)
    index, shard = fix_up_index(data[4 : 4 + n], bundlefast.masked_crc32c), data[4 + n :]
    for p in work.iterdir():
        p.unlink()
    prefix = work / "b"
    (work / "b.index").write_bytes(index)
    for shards in (1, 2, 3):
        for i in range(shards):
            (work / f"b.data-{i:05d}-of-{shards:05d}").write_bytes(shard)
    read_all(prefix)


def read_all(prefix: Path) -> None:
    """Every way of reading the bundle at `prefix`; only bundlefast errors may escape."""
    for kwargs in ({}, {"verify": True}, {"copy": True}):
        try:
            for array in bundlefast.load(prefix, **kwargs).values():
                _touch(array)
        except _ALLOWED:
            pass
    try:
        reader = bundlefast.open(prefix)
    except _ALLOWED:
        return
    with reader:
        for name in reader:
            for verify in (False, True):
                try:
                    reader.info(name)
                    _touch(reader.get_array(name, verify=verify))
                    lazy = reader.get_slice(name, verify=verify)
                    if lazy.ndim:
                        _touch(lazy[1:])
                        _touch(lazy[..., :1])
                except _ALLOWED:
                    pass
        try:
            reader.friendly_names(include_slots=True)  # parses the object graph, if any
        except _ALLOWED:
            pass
    # The tf.train look-alike: its own listing and conversions.
    try:
        checkpoint = bundlefast.load_checkpoint(prefix)
        checkpoint.get_variable_to_shape_map()
        checkpoint.get_variable_to_dtype_map()
        checkpoint.debug_string()
    except _ALLOWED:
        return
    for name in list(checkpoint.get_variable_to_shape_map())[:50]:
        try:
            checkpoint.get_tensor(name)
        except _ALLOWED:
            pass


def main() -> None:
    if sys.argv[1:2] == ["--replay"]:
        for path in sys.argv[2:]:
            run_one(Path(path).read_bytes())
        print(f"replayed {len(sys.argv) - 2} inputs")
        return
    import atheris

    atheris.Setup(sys.argv, run_one)
    atheris.Fuzz()


if __name__ == "__main__":
    os.environ.setdefault("BUNDLEFAST_NUM_THREADS", "2")
    main()
