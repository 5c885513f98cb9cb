"""Turning what a user passes into a checkpoint prefix P (FORMAT.md section 10).

:func:`resolve_prefix` accepts:

* a prefix P (``P.index`` exists);
* a ``P.index``, ``P.data-00000-of-00001`` or ``P.meta`` path;
* a directory holding a ``checkpoint`` state file. Relative paths in it are joined onto
  the directory; absolute paths (TF1 ``Saver``) are used as they are;
* a directory holding exactly one bundle (one ``*.index`` file);
* a SavedModel directory (``saved_model.pb`` or ``saved_model.pbtxt``). Its variables
  are read from ``variables/variables``.

Names are taken literally. Unlike TensorFlow we never glob, so prefixes containing
``[``, ``*`` or ``?`` work. V1 checkpoints (TensorSliceReader tables) are recognised
and refused with :class:`~bundlefast.UnsupportedError`.

The ``checkpoint`` state file itself is read and written by :mod:`._state_file`;
its names are re-exported here for the modules that import them from this one.
"""

from __future__ import annotations

import difflib
import errno
import os
import re
from pathlib import Path

from ._state_file import (
    STATE_FILENAME,
    CheckpointState,
    StateFileError,
    get_checkpoint_state,
    parse_checkpoint_state,
    read_state_file,
)
from . import _core
from .errors import BundleFileNotFoundError, UnsupportedError

__all__ = [
    "CheckpointState",
    "StateFileError",
    "checkpoint_files_exist",
    "get_checkpoint_state",
    "parse_checkpoint_state",
    "read_state_file",
    "resolve_prefix",
]

_DATA_SUFFIX = re.compile(r"\.data-\d{5,}-of-\d{5,}$")
# TF1 Saver(sharded=True, write_version=V1) names its checkpoint "P-?????-of-0000N".
_V1_SHARD_PATTERN = re.compile(r"-\?{5}-of-(\d{5,})$")
_MAX_LISTED = 10


def checkpoint_files_exist(prefix: str) -> bool:
    """True if ``prefix`` names a V2 (``prefix.index``) or V1 (``prefix`` itself, or the
    TF1 sharded pattern ``…-?????-of-N``) checkpoint. TF globs here; we look literally."""
    if os.path.exists(prefix + ".index") or os.path.exists(prefix):
        return True
    return _v1_first_shard(Path(prefix)) is not None


# --------------------------------------------------------------------------------------
# Telling files apart
# --------------------------------------------------------------------------------------


def _sstable_kind(path: Path) -> str | None:
    """'v1' for a V1 (TensorSliceReader) table, 'v2' for a V2 ``.index`` table,
    'sstable' for another SSTable, None for anything else (the core tells them apart)."""
    return _core.table_kind(str(path))


def _v1_first_shard(p: Path) -> Path | None:
    """For a TF1 sharded V1 pattern ``P-?????-of-N``, its first shard file if it exists."""
    m = _V1_SHARD_PATTERN.search(p.name)
    if not m:
        return None
    first = p.with_name(f"{p.name[: m.start()]}-{0:05d}-of-{m.group(1)}")
    return first if first.is_file() else None


def _refuse_v1(p: Path, shown: Path | None = None) -> UnsupportedError:
    return UnsupportedError(
        f"{shown or p} is a V1 checkpoint (TensorSliceReader format, written by TF <= 0.11 or "
        "Saver(write_version=V1)); bundlefast reads only V2 tensor bundles. Convert it with "
        "TensorFlow: restore it with a tf.compat.v1.train.Saver and save it again (V2 is the default)"
    )


def _check_v1(p: Path) -> None:
    """Raise UnsupportedError if ``p`` is a V1 checkpoint (a file or the sharded pattern)."""
    if p.is_file() and _sstable_kind(p) == "v1":
        raise _refuse_v1(p)
    first = _v1_first_shard(p)
    if first is not None and _sstable_kind(first) == "v1":
        raise _refuse_v1(first, p)


def _not_found(message: str, filename: Path | str) -> BundleFileNotFoundError:
    return BundleFileNotFoundError(errno.ENOENT, message, str(filename))


def _index_prefixes(d: Path) -> list[Path]:
    """The prefixes of the bundles directly inside ``d`` (``*.index`` files), sorted."""
    try:
        found = [x for x in d.iterdir() if x.name.endswith(".index") and x.is_file()]
    except OSError:
        return []
    return sorted(x.with_name(x.name[: -len(".index")]) for x in found)


def _listing(d: Path) -> str:
    try:
        names = sorted(x.name + ("/" if x.is_dir() else "") for x in d.iterdir())
    except OSError as err:
        return f"cannot list {d}: {err.strerror}"
    if not names:
        return f"{d} is empty"
    more = f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
    return f"found {', '.join(names[:_MAX_LISTED])}{more}"


def _call(prefix: Path) -> str:
    return f"bundlefast.load({str(prefix)!r})"


# --------------------------------------------------------------------------------------
# resolve_prefix
# --------------------------------------------------------------------------------------


def _from_state_file(d: Path, state_path: Path) -> Path:
    state = read_state_file(state_path)
    latest = state.model_checkpoint_path
    if not latest:
        newest = [p for p in state.all_model_checkpoint_paths if p]
        hint = f"; it lists {newest[-1]!r}: try {_call(_join(d, newest[-1]))}" if newest else ""
        raise StateFileError(f"{state_path} has an empty model_checkpoint_path{hint}")
    target = _join(d, latest)
    if Path(str(target) + ".index").is_file():
        return target
    _check_v1(target)
    msg = f"{state_path} names checkpoint {latest!r}, but {target}.index does not exist"
    here = d / target.name
    if Path(latest).is_absolute() and Path(str(here) + ".index").is_file():
        msg += (
            f". The path is absolute (TF1 Saver writes absolute paths) and the directory was moved"
            f" or copied after saving: the checkpoint is now at {here}; use {_call(here)}"
        )
        raise _not_found(msg, str(target) + ".index")
    kept = [_join(d, p) for p in state.all_model_checkpoint_paths]
    kept = [p for p in kept if Path(str(p) + ".index").is_file()]
    bundles = _index_prefixes(d)
    if kept:
        msg += f"; the state file also lists {', '.join(str(p) for p in kept)}: try {_call(kept[-1])}"
    elif bundles:
        names = ", ".join(p.name for p in bundles[:_MAX_LISTED])
        msg += f"; {d} holds bundle(s) {names}: pass one as the prefix, e.g. {_call(bundles[-1])}"
    else:
        msg += f"; {_listing(d)}"
    raise _not_found(msg, str(target) + ".index")


def _join(d: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else d / p


def _from_directory(d: Path) -> Path:
    state_path = d / STATE_FILENAME
    if state_path.is_file():
        return _from_state_file(d, state_path)
    if (d / "saved_model.pb").is_file() or (d / "saved_model.pbtxt").is_file():
        variables = d / "variables" / "variables"
        if Path(str(variables) + ".index").is_file():
            return variables
        msg = f"{d} is a SavedModel directory, but {variables}.index does not exist (a SavedModel without variables?)"
        raise _not_found(msg, str(variables) + ".index")
    bundles = _index_prefixes(d)
    if len(bundles) == 1:
        return bundles[0]
    if bundles:
        names = ", ".join(p.name for p in bundles[:_MAX_LISTED])
        more = f" and {len(bundles) - _MAX_LISTED} more" if len(bundles) > _MAX_LISTED else ""
        msg = (
            f"{d} has no '{STATE_FILENAME}' state file and holds {len(bundles)} bundles ({names}{more}); "
            f"pass one as the prefix, e.g. {_call(bundles[-1])}"
        )
    else:
        msg = (
            f"no checkpoint in directory {d}: no '{STATE_FILENAME}' state file, no SavedModel, "
            f"no .index file; {_listing(d)}"
        )
    raise _not_found(msg, d)


def resolve_prefix(path: str | bytes | os.PathLike[str]) -> Path:
    """Return the checkpoint prefix P for ``path`` (see the module docstring).

    Args:
        path: a prefix, a ``P.index``/``P.data-…``/``P.meta`` path, a checkpoint
            directory or a SavedModel directory. Taken literally (never globbed).

    Returns:
        P, such that ``P.index`` exists.

    Raises:
        FileNotFoundError (BundleFileNotFoundError): nothing usable at ``path``; the
            message lists what was found and suggests a call that works.
        UnsupportedError: ``path`` is a V1 checkpoint.
        CorruptionError (StateFileError): the directory's ``checkpoint`` state file does
            not parse or has no ``model_checkpoint_path``.

    Example:
        >>> resolve_prefix("train_dir")          # follows train_dir/checkpoint
        PosixPath('train_dir/ckpt-3')
    """
    text = os.fsdecode(path)
    if not text:
        raise _not_found("empty checkpoint path", text)
    p = Path(text)
    if Path(str(p) + ".index").is_file():
        return p
    if p.is_dir():
        return _from_directory(p)
    name = p.name
    for suffix in (".index", ".meta"):
        if name.endswith(suffix) and len(name) > len(suffix) and p.is_file():
            base = p.with_name(name[: -len(suffix)])
            if Path(str(base) + ".index").is_file():
                return base
            _check_v1(base)
            _check_v1(p)
            raise _not_found(f"{p} exists, but {base}.index does not; {_listing(p.parent)}", str(base) + ".index")
    m = _DATA_SUFFIX.search(name)
    if m and p.is_file():
        base = p.with_name(name[: m.start()])
        if Path(str(base) + ".index").is_file():
            return base
        raise _not_found(f"{p} is a data shard, but its index {base}.index does not exist", str(base) + ".index")
    _check_v1(p)
    if p.is_file():
        if name in ("saved_model.pb", "saved_model.pbtxt"):
            msg = (f"{p} is a SavedModel's graph, not a checkpoint: pass its directory, "
                   f"{_call(p.parent)}, to read the SavedModel's variables")
            raise _not_found(msg, str(p) + ".index")
        if _sstable_kind(p) == "v2":
            what = "a V2 index file, but an index must be named <prefix>.index"
        else:
            what = f"not a checkpoint: there is no {p}.index"
        raise _not_found(f"{p} is a file, {what}", str(p) + ".index")
    parent = p.parent
    if not parent.is_dir():
        raise _not_found(f"no checkpoint at {p}: directory {parent} does not exist", str(p) + ".index")
    try:  # not glob(): the name may hold glob metacharacters
        near = sorted(x.name for x in parent.iterdir() if x.name.startswith(name))
    except OSError:
        near = []
    msg = f"no checkpoint at {p}: {p}.index does not exist"
    if near:
        msg += f"; found {', '.join(near[:_MAX_LISTED])}" + (" ..." if len(near) > _MAX_LISTED else "")
        candidates = sorted({parent / n[: -len(".index")] for n in near if n.endswith(".index")})
        if candidates:
            msg += f"; did you mean {_call(candidates[-1])}?"
    else:  # a typo inside the name (ckpt-l for ckpt-1): the bundles whose names look alike
        bundles = {b.name: b for b in _index_prefixes(parent)}
        close = difflib.get_close_matches(name, list(bundles), n=3, cutoff=0.6)
        if close:
            msg += f"; did you mean {_call(bundles[close[0]])}?"
            if len(close) > 1:
                msg += f" (also close: {', '.join(close[1:])})"
    raise _not_found(msg, str(p) + ".index")


def data_shard_base(path: str) -> str | None:
    """``P`` for a data shard path ``P.data-NNNNN-of-MMMMM``, else None (remote
    resolution, _sources.py, applies the rules above to URLs)."""
    m = _DATA_SUFFIX.search(path)
    return path[: m.start()] if m and m.start() > 0 else None
