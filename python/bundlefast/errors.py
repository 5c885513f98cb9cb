"""The bundlefast exception hierarchy.

Every error bundlefast raises on bad input derives from :class:`BundleError`,
and each class also derives from the builtin a caller would naturally catch,
so ``except KeyError`` or ``except ValueError`` keep working. Missing or
unreadable files raise the builtin :class:`FileNotFoundError` / :class:`OSError`
subclasses below, with ``errno`` and ``filename`` set.
"""

from __future__ import annotations

__all__ = [
    "BundleError",
    "BundleFileNotFoundError",
    "BundleOSError",
    "ChecksumError",
    "CorruptionError",
    "InvalidArgumentError",
    "TensorNotFoundError",
    "UnsupportedError",
]


class BundleError(Exception):
    """Base class of every bundlefast error."""


class CorruptionError(BundleError, ValueError):
    """Malformed bytes: footer, block, varint, proto, or an out-of-range entry."""


class ChecksumError(CorruptionError):
    """A masked CRC32C did not match (block trailer, tensor data, string lengths)."""


class UnsupportedError(BundleError, NotImplementedError):
    """Valid input that bundlefast does not read (unknown dtype, V1 checkpoint, ...)."""


class TensorNotFoundError(BundleError, KeyError):
    """A tensor name that is not in the checkpoint."""

    def __str__(self) -> str:
        # KeyError's __str__ repr-quotes its argument; show the message as written.
        return str(self.args[0]) if self.args else ""


class BundleOSError(BundleError, OSError):
    """An I/O failure on a checkpoint file (open, stat, mmap, read)."""


class BundleFileNotFoundError(BundleOSError, FileNotFoundError):
    """A checkpoint file (index, data shard, state file) does not exist."""


class InvalidArgumentError(BundleError, ValueError):
    """A call that cannot be satisfied as asked (a bad slice, a wrong argument)."""
