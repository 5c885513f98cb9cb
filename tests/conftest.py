"""Shared pytest fixtures, and one CI rule: under CI a skip that hides a missing dependency
fails the run."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _hides_a_missing_dependency(report: pytest.CollectReport | pytest.TestReport, item: object) -> str | None:
    """Why this skip must not pass under CI, or None when it may.

    A test marked ``tf`` that skips compared nothing with TensorFlow, and an ``importorskip``
    that skips means a declared test dependency (tensorflow, crc32c, ...) is missing: CI
    installs every one of them, so either is a broken environment, not a pass. The one
    exception is a run that says it leaves TensorFlow out (``BUNDLEFAST_TESTS_WITHOUT_TF=1``).
    """
    if os.environ.get("BUNDLEFAST_TESTS_WITHOUT_TF") == "1" and _about_tensorflow(report, item):
        return None  # a run that leaves TensorFlow out on purpose (minimum versions, sanitizers)
    longrepr = report.longrepr
    reason = str(longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else longrepr)
    if reason.startswith("Skipped: "):
        reason = reason[len("Skipped: "):]
    if reason.startswith("could not import"):
        return f"a test dependency is missing ({reason})"
    get_marker = getattr(item, "get_closest_marker", None)
    if get_marker is not None and get_marker("tf") is not None:
        return f"a test marked tf skipped ({reason})"
    return None


def _about_tensorflow(report: pytest.CollectReport | pytest.TestReport, item: object) -> bool:
    get_marker = getattr(item, "get_closest_marker", None)
    return "'tensorflow'" in str(report.longrepr) or (get_marker is not None and get_marker("tf") is not None)


def _fail_under_ci(report: pytest.CollectReport | pytest.TestReport, item: object) -> None:
    if not (_under_ci() and report.skipped):
        return
    why = _hides_a_missing_dependency(report, item)
    if why is not None:
        report.outcome = "failed"
        report.longrepr = f"CI=true: {why}; under CI this fails instead of skipping"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    _fail_under_ci(outcome.get_result(), item)


def _skip_when_tf_left_out(report: pytest.CollectReport) -> None:
    """A module that imports TensorFlow unconditionally (to fail, never skip, without it)
    is skipped in a run that says it leaves TF out on purpose, and only there."""
    if os.environ.get("BUNDLEFAST_TESTS_WITHOUT_TF") != "1" or not report.failed:
        return
    text = str(report.longrepr)
    if "ModuleNotFoundError" in text and re.search(r"\btensorflow\b", text):
        report.outcome = "skipped"
        report.longrepr = (str(report.fspath), 0, "Skipped: needs TensorFlow, left out of this run "
                           "(BUNDLEFAST_TESTS_WITHOUT_TF=1)")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    # A module-level importorskip skips the whole module at collection time.
    outcome = yield
    report = outcome.get_result()
    _skip_when_tf_left_out(report)
    _fail_under_ci(report, collector)


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
