"""Progress bars for long commands: tqdm on a terminal, nothing in a pipe.

A bar appears only when stderr is a terminal and the work has run for more than
``BUNDLEFAST_PROGRESS_DELAY`` seconds (default 1; tests set 0), so quick runs and
scripts see no bar at all. tqdm is the optional extra ``bundlefast[progress]``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from ._common import warn

DEFAULT_DELAY = 1.0


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class _HintBar(_NoBar):
    """On a terminal without tqdm: after a long run, say how to get a bar."""

    def __init__(self, delay: float) -> None:
        self._start = time.monotonic()
        self._delay = delay

    def close(self) -> None:
        if time.monotonic() - self._start > max(self._delay, 1.0):
            warn("pip install 'bundlefast[progress]' for a progress bar")


def delay() -> float:
    return float(os.environ.get("BUNDLEFAST_PROGRESS_DELAY", DEFAULT_DELAY))


def progress_bar(total: int, description: str, *, unit: str = "B", enabled: bool = True) -> Any:
    """A bar with ``update(n)`` and ``close()``; a no-op unless stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _HintBar(delay())
    return tqdm(total=total, desc=description, unit=unit, unit_scale=True, unit_divisor=1024 if unit == "B" else 1000,
                delay=delay(), leave=False, file=sys.stderr, dynamic_ncols=True)  # fmt: skip
