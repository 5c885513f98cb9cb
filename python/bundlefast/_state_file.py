"""The ``checkpoint`` state file of a checkpoint directory: a text-format
``CheckpointState`` proto (FORMAT.md 10.2), read and written.

Reading follows the protobuf Python parser TF uses (``text_format.Merge``): comments,
``[a, b]`` lists, adjacent string concatenation, C escapes, and ``,``/``;`` separators.
Writing produces what ``tf.train.update_checkpoint_state`` writes (one field per line,
C-escaped strings), atomically: a temp file, fsync, rename, fsync of the directory.
:func:`update_checkpoint_state` adds ``CheckpointManager``'s keep-last-N cleanup.
"""

from __future__ import annotations

import logging
import os
import re
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CorruptionError, InvalidArgumentError

__all__ = [
    "STATE_FILENAME",
    "CheckpointState",
    "StateFileError",
    "format_checkpoint_state",
    "get_checkpoint_state",
    "parse_checkpoint_state",
    "read_state_file",
    "update_checkpoint_state",
    "write_state_file",
]

_log = logging.getLogger("bundlefast")

STATE_FILENAME = "checkpoint"

# --------------------------------------------------------------------------------------
# Reading
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
    return parse_state_bytes(Path(path).read_bytes(), os.fspath(path))


def parse_state_bytes(data: bytes, where: str) -> CheckpointState:
    """The ``CheckpointState`` in the bytes of a state file (local or fetched from a URL).

    Raises:
        StateFileError: not UTF-8 or not a ``CheckpointState`` text proto; names ``where``.
    """
    try:
        return parse_checkpoint_state(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise StateFileError(f"{where}: not UTF-8 text ({err})") from None
    except StateFileError as err:
        raise StateFileError(f"{where}: not a CheckpointState text proto: {err}") from None


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


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------

_ESCAPES = {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", ord('"'): '\\"', ord("'"): "\\'", ord("\\"): "\\\\"}


def _c_escape(text: str) -> str:
    """protobuf's ``text_encoding.CEscape`` (``as_utf8=False``), which TF's writer uses:
    named escapes, and 3-digit octal for other bytes outside printable ASCII."""
    out = []
    for byte in text.encode("utf-8", "surrogateescape"):
        if byte in _ESCAPES:
            out.append(_ESCAPES[byte])
        elif byte < 0x20 or byte >= 0x7F:
            out.append(f"\\{byte:03o}")
        else:
            out.append(chr(byte))
    return "".join(out)


def format_checkpoint_state(state: CheckpointState) -> str:
    """The text of a state file for ``state``, as TF's ``text_format`` writes it."""
    lines = [f'model_checkpoint_path: "{_c_escape(state.model_checkpoint_path)}"']
    lines += [f'all_model_checkpoint_paths: "{_c_escape(p)}"' for p in state.all_model_checkpoint_paths]
    lines += [f"all_model_checkpoint_timestamps: {t!r}" for t in state.all_model_checkpoint_timestamps]
    if state.last_preserved_timestamp:
        lines.append(f"last_preserved_timestamp: {state.last_preserved_timestamp!r}")
    return "\n".join(lines) + "\n"


def _sync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a directory; nothing more to do there
        pass
    finally:
        os.close(fd)


def write_state_file(
    directory: str | os.PathLike[str], state: CheckpointState, latest_filename: str | None = None
) -> Path:
    """Write ``state`` to ``directory/checkpoint`` atomically and durably: a reader sees
    the old file or the new one, never a part. Returns the file's path."""
    d = os.fspath(directory)
    path = Path(d, latest_filename or STATE_FILENAME)
    import uuid  # here, not at import: uuid costs milliseconds that reading never needs

    temp = path.with_name(f"{path.name}.tmp{uuid.uuid4().hex}")  # TF's temp name
    try:
        with open(temp, "wb") as f:
            f.write(format_checkpoint_state(state).encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _sync_directory(d or ".")
    return path


def _relative(directory: str, prefix: str) -> str:
    """The path written for ``prefix``: relative to ``directory`` when it lies inside it
    (as TF2 writes), else absolute."""
    absolute = os.path.abspath(prefix)
    rel = os.path.relpath(absolute, os.path.abspath(directory))
    return absolute if rel.startswith(os.pardir) else rel


def _remove_checkpoint(prefix: str) -> None:
    """Delete a bundle: its index first, so a reader meanwhile finds no checkpoint rather
    than an index pointing at missing shards; then its data shards."""
    Path(prefix + ".index").unlink(missing_ok=True)
    d, base = os.path.split(prefix)
    pattern = re.compile(re.escape(base) + r"\.data-\d{5,}-of-\d{5,}")
    for name in os.listdir(d or "."):
        if pattern.fullmatch(name):
            Path(d or ".", name).unlink(missing_ok=True)


def update_checkpoint_state(
    directory: str | os.PathLike[str],
    prefix: str | os.PathLike[str],
    all_prefixes: Iterable[str | os.PathLike[str]] | None = None,
    *,
    max_to_keep: int | None = None,
    latest_filename: str | None = None,
) -> CheckpointState:
    """Make ``prefix`` the latest checkpoint of ``directory``: write its ``checkpoint``
    state file atomically, then delete checkpoints beyond the newest ``max_to_keep``.

    The safe way to save repeatedly: save each step under a new prefix, then call this.
    The state file always names a complete checkpoint (the previous one until the rename,
    the new one after), and old bundles are deleted only after it names the new one.

    Args:
        directory: the checkpoint directory (where ``checkpoint`` lives).
        prefix: the checkpoint just saved; it must exist.
        all_prefixes: every checkpoint to list, oldest first (``prefix`` is added last
            if missing). Default: the ones the current state file lists, then ``prefix``.
        max_to_keep: keep only this many of them (newest last), deleting the bundles of
            the others, like ``tf.train.CheckpointManager(max_to_keep=...)``. None keeps all.
        latest_filename: the state file's name (default ``checkpoint``).

    Returns:
        The state written (paths as written: relative to ``directory`` when inside it).

    Raises:
        InvalidArgumentError: ``prefix`` has no ``.index``, or ``max_to_keep`` < 1.
    """
    d = os.fspath(directory)
    latest = os.fspath(prefix)
    if not os.path.isabs(latest) and not os.path.exists(latest + ".index"):
        latest = os.path.join(d, latest)
    if not os.path.exists(latest + ".index"):
        raise InvalidArgumentError(f"{latest}.index does not exist: save the checkpoint before naming it latest")
    if max_to_keep is not None and max_to_keep < 1:
        raise InvalidArgumentError(f"max_to_keep must be at least 1 or None, got {max_to_keep!r}")
    previous = get_checkpoint_state(d, latest_filename)
    times: dict[str, float] = {}
    if previous is not None:
        times = {
            os.path.abspath(p): t
            for p, t in zip(previous.all_model_checkpoint_paths, previous.all_model_checkpoint_timestamps)
        }
    if all_prefixes is None:
        listed = list(previous.all_model_checkpoint_paths) if previous is not None else []
    else:
        listed = [p if os.path.isabs(p) else os.path.join(d, p) for p in map(os.fspath, all_prefixes)]
    key = os.path.abspath
    listed = [p for p in listed if key(p) != key(latest)] + [latest]
    removed: list[str] = []
    if max_to_keep is not None and len(listed) > max_to_keep:
        removed, listed = listed[:-max_to_keep], listed[-max_to_keep:]
    now = time.time()
    state = CheckpointState(
        model_checkpoint_path=_relative(d, latest),
        all_model_checkpoint_paths=[_relative(d, p) for p in listed],
        all_model_checkpoint_timestamps=[times.get(key(p), now) for p in listed],
        last_preserved_timestamp=previous.last_preserved_timestamp if previous is not None else now,
    )
    write_state_file(d, state, latest_filename)
    for old in removed:  # only now: the state file no longer names them
        _remove_checkpoint(old)
    return state
