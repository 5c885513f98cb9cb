"""Shared pytest fixtures. Keep this file small: add fixtures, nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``tests/data/``: checkpoints written by TensorFlow (see ``tests/data/README.md``)."""
    return Path(__file__).resolve().parent / "data"


@pytest.fixture
def random_seed() -> int:
    """A fresh seed per test (``os.urandom``), printed so a failure shows it; set
    ``BUNDLEFAST_TEST_SEED`` to replay one."""
    env = os.environ.get("BUNDLEFAST_TEST_SEED")
    seed = int(env) if env else int.from_bytes(os.urandom(4), "little")
    print(f"random seed {seed}: replay with BUNDLEFAST_TEST_SEED={seed}")
    return seed
