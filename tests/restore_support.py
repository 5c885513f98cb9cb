"""Helpers shared by the restore, meta, alias, torch and JAX tests.

``require(module)`` imports an optional dependency the tests compare against: outside CI a
missing one skips the test, under CI (``CI`` set, as ``.ci/run`` runs) it fails, so a CI
that lost TensorFlow, torch or JAX cannot turn green by skipping.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def require(module: str) -> ModuleType:
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)
