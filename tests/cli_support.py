"""Helpers for the command-line tests: run ``python -m bundlefast`` in a subprocess,
copy a fixture somewhere writable, build a checkpoint of many 1 MiB tensors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"


def run_cli(*args: str | os.PathLike[str], env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``python -m bundlefast ARGS`` with stdout and stderr captured (the environment
    inherited, so PYTHONPATH finds the same bundlefast as the tests)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "bundlefast", *map(str, args)], capture_output=True, text=True,
                          env=full_env, timeout=timeout, check=False)  # fmt: skip


def copy_case(case: str, tmp_path: Path) -> Path:
    """A writable copy of ``tests/data/<case>``; returns the directory."""
    dst = tmp_path / case
    shutil.copytree(DATA_DIR / case, dst)
    return dst


def case_names() -> list[str]:
    """Every fixture directory under tests/data."""
    return sorted(p.name for p in DATA_DIR.iterdir() if p.is_dir() and any(p.rglob("*.index")))


def many_tensors(tmp_path: Path, count: int, nbytes: int) -> Path:
    """A bundle of ``count`` float32 tensors of ``nbytes`` each (tests/bundle_builder.py)."""
    import bundle_builder
    import crc32c

    builder = bundle_builder.BundleBuilder()
    rng = np.random.default_rng(5)
    for i in range(count):
        array = rng.standard_normal(nbytes // 4).astype(np.float32)
        payload = array.tobytes()
        builder._add_payload_entry(f"t{i:02d}".encode(), bundle_builder.DataType.FLOAT, array.shape, payload,
                                   bundle_builder.mask(crc32c.crc32c(payload)), 0)  # fmt: skip
    prefix = tmp_path / "many"
    builder.write(prefix)
    return prefix


def flip_byte(path: str | os.PathLike[str], offset: int) -> None:
    """Invert one byte of a file in place."""
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def damage_payloads(prefix: Path, names: list[str]) -> dict[str, tuple[str, int]]:
    """Flip one byte in the payload of each tensor; returns {name: (data file, offset)}."""
    import bundlefast

    with bundlefast.open(prefix) as reader:
        where = {n: (reader.info(n).data_path, reader.info(n).offset) for n in names}
    for path, offset in where.values():
        flip_byte(path, offset)
    return where
