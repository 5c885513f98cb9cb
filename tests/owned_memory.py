"""What "an owned array" means for bundlefast's copies (tests only)."""

from __future__ import annotations

import numpy as np


def is_arena(owner: object) -> bool:
    """Whether `owner` is the owner of a read's arena (csrc/arena.h, numpy_arrays.h ArenaOwner)."""
    return type(owner).__name__ == "PyCapsule" and '"bundlefast.arena"' in repr(owner)


def owns_its_memory(a: np.ndarray) -> bool:
    """The array's bytes are its own, never a file's: NumPy allocated them (a single result),
    or they are its slice of the arena of the read that made it (several results)."""
    return bool(a.flags.owndata) or is_arena(a.base)


def is_mapped(address: int) -> bool:
    """Whether `address` lies in a mapping of this process (/proc/self/maps): an arena
    that was unmapped is gone from it."""
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= address < hi:
                return True
    return False
