"""``python -m bundlefast ...``: the same as the ``bundlefast`` command (see bundlefast.cli)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
