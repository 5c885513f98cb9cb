"""What a user typed wrong, told back: ``names`` given as one string, a tensor name that is
not in the checkpoint (close names, and friendly names pointed at :func:`load_friendly`).

Only error paths live here: nothing runs unless a call is already failing.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .errors import BundleError, TensorNotFoundError

if TYPE_CHECKING:
    from ._reader import Reader

_MAX_CLOSE = 5


def name_list(names: Iterable[str] | None, api: str) -> list[str] | None:
    """``names`` as a list, refusing a lone ``str``/``bytes``: iterating one would ask for
    each of its characters (``names="w"`` would look for a tensor ``'w'`` by luck and
    ``names="kernel"`` for ``'k'``, ``'e'``, ...)."""
    if names is None:
        return None
    if isinstance(names, (str, bytes)):
        raise TypeError(
            f"{api}: names must be a list of tensor names, not a single {type(names).__name__} "
            f"({names!r}); write names=[{names!r}]"
        )
    return list(names)


def close_names(name: object, candidates: Collection[str]) -> list[str]:
    """Up to five of ``candidates`` that look like ``name`` (best first)."""
    text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
    return difflib.get_close_matches(text, list(candidates), n=_MAX_CLOSE, cutoff=0.6)


def did_you_mean(close: list[str]) -> str:
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def _missing_name(err: TensorNotFoundError) -> str | None:
    """The name in the core's "tensor 'NAME' not found in P.index" (None for other texts)."""
    text = str(err)
    head, sep, _ = text.partition("' not found in ")
    return head[len("tensor '"):] if sep and head.startswith("tensor '") else None


def _hint(reader: Reader, name: str) -> str:
    try:
        friendly = reader.friendly_names(include_slots=True)
    except BundleError:  # a damaged object graph must not hide the original error
        friendly = {}
    if name in friendly and friendly[name] != name:
        return (f"; {name!r} is a friendly name, of the key {friendly[name]!r}: "
                f"bundlefast.load_friendly(prefix, names=[{name!r}]) takes friendly names")
    return did_you_mean(close_names(name, list(reader)))


@contextmanager
def hint_missing_names(reader: Reader) -> Iterator[None]:
    """Re-raise the core's "tensor not found" with close names and friendly-name advice."""
    try:
        yield
    except TensorNotFoundError as err:
        name = _missing_name(err)
        if name is None:
            raise
        raise TensorNotFoundError(f"{err}{_hint(reader, name)}") from None
