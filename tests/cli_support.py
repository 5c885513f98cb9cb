"""Helpers for the command-line tests: run ``python -m bundlefast`` in a subprocess,
copy a fixture somewhere writable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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
