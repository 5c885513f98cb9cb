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

This module also parses the ``checkpoint`` state file (a text-format
``CheckpointState`` proto), with the same rules as the protobuf Python parser TF
uses (``text_format.Merge``): comments, ``[a, b]`` lists, adjacent string
concatenation, C escapes, and ``,``/``;`` separators.
"""

from __future__ import annotations

import difflib
import errno
import logging
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BundleFileNotFoundError, CorruptionError, UnsupportedError

__all__ = [
    "CheckpointState",
    "StateFileError",
    "checkpoint_files_exist",
    "get_checkpoint_state",
    "parse_checkpoint_state",
    "read_state_file",
    "resolve_prefix",
]

_log = logging.getLogger("bundlefast")

STATE_FILENAME = "checkpoint"
_DATA_SUFFIX = re.compile(r"\.data-\d{5,}-of-\d{5,}$")
# TF1 Saver(sharded=True, write_version=V1) names its checkpoint "P-?????-of-0000N".
_V1_SHARD_PATTERN = re.compile(r"-\?{5}-of-(\d{5,})$")
_SSTABLE_MAGIC = (0xDB4775248B80FB57).to_bytes(8, "little")
_MAX_LISTED = 10


# --------------------------------------------------------------------------------------
# The `checkpoint` state file (CheckpointState text proto, FORMAT.md 10.2)
# --------------------------------------------------------------------------------------


@dataclass
class CheckpointState:
    """The fields of a ``CheckpointState`` proto, with the proto's field names."""

    model_checkpoint_path: str = ""
    all_model_checkpoint_paths: list[str] = field(default_factory=list)
    all_model_checkpoint_timestamps: list[float] = field(default_factory=list)
    last_preserved_timestamp: float = 0.0


class StateFileError(CorruptionError):
    """A ``checkpoint`` state file that is not a valid ``CheckpointState`` text proto."""


_STRING_FIELDS = ("model_checkpoint_path", "all_model_checkpoint_paths")
_FLOAT_FIELDS = ("all_model_checkpoint_timestamps", "last_preserved_timestamp")
_REPEATED = ("all_model_checkpoint_paths", "all_model_checkpoint_timestamps")

# The protobuf Python tokenizer's token grammar; tokens never span lines.
_TOKEN = re.compile(
    r"[a-zA-Z_][0-9a-zA-Z_+-]*"
    r"|(?:[0-9+-]|\.[0-9])[0-9a-zA-Z_.+-]*"
    r"|\"[^\"\n\\]*(?:(?:\\.)+[^\"\n\\]*)*(?:\"|\\?$)"
    r"|'[^'\n\\]*(?:(?:\\.)+[^'\n\\]*)*(?:'|\\?$)"
)
_SKIP = re.compile(r"(?:\s|#.*$)+")
_IDENTIFIER = re.compile(r"\w+")
_FLOAT_OCTAL = re.compile(r"-?0[0-9]+")
_FLOAT_INF = re.compile(r"-?inf(?:inity)?f?$", re.IGNORECASE)
_FLOAT_NAN = re.compile(r"nanf?$", re.IGNORECASE)
_ONE_DIGIT_HEX = re.compile(r"(\\+)x([0-9a-fA-F])(?![0-9a-fA-F])")
_SIMPLE_ESCAPES = {
    "\n": "", "\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n",
    "r": "\r", "t": "\t", "v": "\v",
}


class _Tokens:
    """A line-based tokenizer with the protobuf text-format token rules."""

    def __init__(self, text: str) -> None:
        self._lines = text.split("\n")
        self.line = 0
        self.column = 0
        self.token = ""
        self._advance()

    def _advance(self) -> None:
        while self.line < len(self._lines):
            current = self._lines[self.line]
            skip = _SKIP.match(current, self.column)
            if skip:
                self.column = skip.end()
            if self.column < len(current):
                m = _TOKEN.match(current, self.column)
                self.token = m.group(0) if m else current[self.column]
                return
            self.line += 1
            self.column = 0
        self.line = max(len(self._lines) - 1, 0)  # at the end: report errors there
        self.column = len(self._lines[self.line]) if self._lines else 0
        self.token = ""

    def next(self) -> None:
        self.column += len(self.token)
        self._advance()

    def try_consume(self, token: str) -> bool:
        if self.token == token:
            self.next()
            return True
        return False

    def consume(self, token: str) -> None:
        if not self.try_consume(token):
            raise self.error(f"expected {token!r}, found {self.token or 'end of file'!r}")

    def error(self, message: str, at: tuple[int, int] | None = None) -> StateFileError:
        line, column = at or (self.line, self.column)
        return StateFileError(f"line {line + 1}, column {column + 1}: {message}")


def _c_unescape(text: str) -> bytes:
    """C-unescape the inside of a text-format string literal, as protobuf's Python
    ``text_encoding.CUnescape`` does (unknown escapes such as ``\\q`` stay as written)."""
    text = _ONE_DIGIT_HEX.sub(lambda m: m.group(1) + "x0" + m.group(2) if len(m.group(1)) % 2 else m.group(0), text)
    text = text.encode("raw_unicode_escape").decode("raw_unicode_escape")  # \uXXXX, \UXXXXXXXX
    data = text.encode("utf-8").decode("latin-1")
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("\\ at end of string")
        e = data[i + 1]
        i += 2
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
        elif "0" <= e <= "7":
            j = i
            while j < n and j < i + 2 and "0" <= data[j] <= "7":
                j += 1
            out.append(chr(int(e + data[i:j], 8)))
            i = j
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = data[i : i + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError(f"truncated \\{e} escape")
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise ValueError("illegal Unicode character")
            out.append(chr(code))
            i += width
        elif e == "N":
            end = data.find("}", i)
            if i >= n or data[i] != "{" or end < 0:
                raise ValueError("malformed \\N character escape")
            out.append(unicodedata.lookup(data[i + 1 : end]))
            i = end + 1
        else:
            out.append("\\" + e)
    return "".join(out).encode("latin-1")


def _consume_string(tok: _Tokens) -> str:
    start = (tok.line, tok.column)
    parts: list[bytes] = []
    while True:
        text = tok.token
        if not text or text[0] not in "'\"":
            if parts:
                break
            raise tok.error(f"expected a string, found {text or 'end of file'!r}")
        if len(text) < 2 or text[-1] != text[0]:
            raise tok.error(f"string missing its ending quote: {text!r}")
        try:
            parts.append(_c_unescape(text[1:-1]))
        except (ValueError, LookupError) as err:
            raise tok.error(f"bad escape in string {text!r}: {err}") from None
        tok.next()
    try:
        return b"".join(parts).decode("utf-8")
    except UnicodeDecodeError as err:
        raise tok.error(f"string is not valid UTF-8: {err}", start) from None


def _parse_float(text: str) -> float:
    if _FLOAT_OCTAL.match(text):
        raise ValueError(f"invalid octal float: {text}")
    try:
        return float(text)
    except ValueError:
        if _FLOAT_INF.match(text):
            return float("-inf") if text[0] == "-" else float("inf")
        if _FLOAT_NAN.match(text):
            return float("nan")
        try:
            return float(text.rstrip("fF"))
        except ValueError:
            raise ValueError(f"couldn't parse float: {text!r}") from None


def _consume_float(tok: _Tokens) -> float:
    try:
        value = _parse_float(tok.token)
    except ValueError as err:
        raise tok.error(str(err)) from None
    tok.next()
    return value


def parse_checkpoint_state(text: str) -> CheckpointState:
    """Parse the text of a ``checkpoint`` state file (no path joining, no checks).

    Follows protobuf's ``text_format.Merge``: unknown fields are errors, a repeated
    ``model_checkpoint_path`` keeps the last value.

    Raises:
        StateFileError: the text is not a ``CheckpointState`` text proto; the message
            gives the line and column.
    """
    state = CheckpointState()
    tok = _Tokens(text)
    while tok.token:
        name = tok.token
        if not _IDENTIFIER.fullmatch(name) or name not in _STRING_FIELDS + _FLOAT_FIELDS:
            raise tok.error(f"CheckpointState has no field named {name!r}")
        tok.next()
        tok.consume(":")
        parse = _consume_string if name in _STRING_FIELDS else _consume_float
        values: list[str | float] = []
        if name in _REPEATED and tok.try_consume("["):
            if not tok.try_consume("]"):
                while True:
                    values.append(parse(tok))
                    if tok.try_consume("]"):
                        break
                    tok.consume(",")
        else:
            values.append(parse(tok))
        if name in _REPEATED:
            getattr(state, name).extend(values)
        elif values:
            setattr(state, name, values[-1])
        if not tok.try_consume(","):
            tok.try_consume(";")
    return state


def read_state_file(path: str | os.PathLike[str]) -> CheckpointState:
    """Read and parse a ``checkpoint`` state file (no path joining).

    Raises:
        OSError: the file cannot be read.
        StateFileError: it is not valid UTF-8 or not a ``CheckpointState`` text proto;
            the message names the file.
    """
    data = Path(path).read_bytes()
    try:
        return parse_checkpoint_state(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise StateFileError(f"{os.fspath(path)}: not UTF-8 text ({err})") from None
    except StateFileError as err:
        raise StateFileError(f"{os.fspath(path)}: not a CheckpointState text proto: {err}") from None


def get_checkpoint_state(
    checkpoint_dir: str | os.PathLike[str], latest_filename: str | None = None
) -> CheckpointState | None:
    """``tf.train.get_checkpoint_state``: the state file of ``checkpoint_dir``, with
    relative paths joined onto ``checkpoint_dir`` (``os.path.join``, as TF does).

    Returns None, logging a warning, when the file is missing, unreadable or does not
    parse.

    Raises:
        ValueError: the state file has an empty ``model_checkpoint_path`` (TF's message:
            ``Invalid checkpoint state loaded from <dir>``). Also raised, as TF does, when
            the file is not UTF-8.
    """
    directory = os.fsdecode(checkpoint_dir)
    path = os.path.join(directory, latest_filename or STATE_FILENAME)
    if not os.path.exists(path):
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        _log.warning("%s: %s; checkpoint state ignored", path, err)
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:  # TF lets this UnicodeDecodeError (a ValueError) escape
        raise ValueError(f"{path}: not UTF-8 text ({err})") from None
    try:
        state = parse_checkpoint_state(text)
    except StateFileError as err:
        _log.warning("%s: %s; checkpoint state ignored", path, err)
        return None
    if not state.model_checkpoint_path:
        raise ValueError("Invalid checkpoint state loaded from " + directory)
    if not os.path.isabs(state.model_checkpoint_path):
        state.model_checkpoint_path = os.path.join(directory, state.model_checkpoint_path)
    state.all_model_checkpoint_paths = [
        p if os.path.isabs(p) else os.path.join(directory, p) for p in state.all_model_checkpoint_paths
    ]
    return state


def checkpoint_files_exist(prefix: str) -> bool:
    """True if ``prefix`` names a V2 (``prefix.index``) or V1 (``prefix`` itself, or the
    TF1 sharded pattern ``…-?????-of-N``) checkpoint. TF globs here; we look literally."""
    if os.path.exists(prefix + ".index") or os.path.exists(prefix):
        return True
    return _v1_first_shard(Path(prefix)) is not None


# --------------------------------------------------------------------------------------
# Telling files apart
# --------------------------------------------------------------------------------------


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(buf) and shift < 64:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
    raise ValueError("bad varint")


def _sstable_kind(path: Path) -> str | None:
    """'v1' for a V1 (TensorSliceReader) table, 'v2' for a V2 ``.index`` table,
    'sstable' for another SSTable, None for anything else (FORMAT.md section 1)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            f.seek(0, os.SEEK_END)
            size = f.tell()
            if size < 48:
                return None
            f.seek(size - 8)
            magic = f.read(8)
    except OSError:
        return None
    if magic != _SSTABLE_MAGIC:
        return None
    # The first entry of the first block: shared=0, non_shared=0 (key ""), value length,
    # value. V1 stores SavedTensorSlices{meta (field 1)}, V2 BundleHeaderProto{num_shards (1)}.
    try:
        shared, pos = _read_varint(head, 0)
        unshared, pos = _read_varint(head, pos)
        _, pos = _read_varint(head, pos)
    except ValueError:
        return "sstable"
    if shared or unshared or pos >= len(head):
        return "sstable"
    return {0x0A: "v1", 0x08: "v2"}.get(head[pos], "sstable")


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
