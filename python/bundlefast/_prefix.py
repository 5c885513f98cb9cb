"""Turning what a user passes into a checkpoint prefix P (FORMAT.md section 10).

Accepted: a prefix P (``P.index`` exists); ``P.index`` or ``P.data-…`` paths; a
directory holding a ``checkpoint`` state file (relative or absolute paths); a
directory holding exactly one bundle; a SavedModel directory
(``variables/variables``). Names are taken literally: unlike TensorFlow we
never glob, so prefixes containing ``[``, ``*`` or ``?`` work.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import BundleFileNotFoundError, UnsupportedError

_DATA_SUFFIX = re.compile(r"\.data-\d{5,}-of-\d{5,}$")


def _is_v1_file(path: Path) -> bool:
    """True if ``path`` is a V1 (TensorSliceReader) checkpoint file."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    # Both formats are SSTables; V1's first entry ("" -> SavedTensorSlices)
    # starts with the entry header 00 00 <len> then field tag 0x0a.
    return len(head) == 4 and head[:2] == b"\x00\x00" and head[3:4] == b"\x0a"


def read_checkpoint_state(directory: Path, latest_filename: str = "checkpoint") -> tuple[str | None, list[str]]:
    """Parse a ``checkpoint`` text-proto state file: (model_checkpoint_path, all paths)."""
    text = (directory / latest_filename).read_text(encoding="utf-8", errors="surrogateescape")
    latest: str | None = None
    every: list[str] = []
    for line in text.splitlines():
        m = re.match(r'\s*(model_checkpoint_path|all_model_checkpoint_paths)\s*:\s*"((?:[^"\\]|\\.)*)"', line)
        if not m:
            continue
        value = _unescape(m.group(2))
        if m.group(1) == "model_checkpoint_path":
            latest = value
        else:
            every.append(value)
    return latest, every


def _unescape(s: str) -> str:
    """Undo the C escaping of a text-proto string."""
    if "\\" not in s:
        return s
    raw = s.encode("utf-8", "surrogateescape").decode("unicode_escape").encode("latin-1")
    return raw.decode("utf-8", "surrogateescape")


def _join(directory: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else directory / p


def _from_directory(d: Path) -> Path:
    state = d / "checkpoint"
    if state.is_file():
        latest, _ = read_checkpoint_state(d)
        if not latest:
            msg = f"invalid checkpoint state in {state}: no model_checkpoint_path"
            raise BundleFileNotFoundError(2, msg, str(state))
        p = _join(d, latest)
        if Path(str(p) + ".index").is_file():
            return p
        msg = (
            f"{state} names checkpoint {latest!r}, but {p}.index does not exist"
            " (a checkpoint directory moved after saving?)"
        )
        raise BundleFileNotFoundError(2, msg, str(p) + ".index")
    if (d / "saved_model.pb").is_file() or (d / "saved_model.pbtxt").is_file():
        return resolve_prefix(d / "variables" / "variables")
    indexes = sorted(x for x in d.iterdir() if x.name.endswith(".index") and x.is_file())
    if len(indexes) == 1:
        return indexes[0].with_suffix("")
    found = ", ".join(i.name for i in indexes) or "no .index file"
    hint = f"; pass one as the prefix, e.g. bundlefast.load({str(indexes[-1].with_suffix(''))!r})" if indexes else ""
    msg = f"{d} has no 'checkpoint' state file and {len(indexes)} bundles ({found}){hint}"
    raise BundleFileNotFoundError(2, msg, str(d))


def resolve_prefix(path: str | os.PathLike[str]) -> Path:
    """Return the checkpoint prefix P for ``path`` (see the module docstring).

    Raises:
        FileNotFoundError (BundleFileNotFoundError): nothing usable at ``path``;
            the message lists what was found.
        UnsupportedError: ``path`` is a V1 checkpoint.
    """
    p = Path(os.fspath(path))
    if Path(str(p) + ".index").is_file():
        return p
    if p.is_dir():
        return _from_directory(p)
    if p.suffix == ".index" and p.is_file():
        return p.with_suffix("")
    m = _DATA_SUFFIX.search(p.name)
    if m and p.is_file():
        return p.with_name(p.name[: m.start()])
    if p.is_file() and _is_v1_file(p):
        msg = f"{p} is a V1 checkpoint (TensorSliceReader format, TF <= 0.11); bundlefast reads only V2 bundles"
        raise UnsupportedError(msg)
    parent = p.parent if str(p.parent) else Path(".")
    # Not glob(): the name may hold glob metacharacters.
    near = sorted(x.name for x in parent.iterdir() if x.name.startswith(p.name))[:10] if parent.is_dir() else []
    seen = f"; found {', '.join(near)}" if near else ""
    msg = f"no checkpoint at {p}: {p}.index does not exist{seen}"
    raise BundleFileNotFoundError(2, msg, str(p) + ".index")
