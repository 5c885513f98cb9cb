"""The rename-map file: which tensor of a checkpoint becomes which name.

One mapping per line, ``TARGET SOURCE`` (whitespace between; blank lines and lines
starting with ``#`` are ignored), or a JSON object ``{"TARGET": "SOURCE", ...}`` for
names that contain whitespace. TARGET is the name to produce (the destination tensor or
variable), SOURCE the name in the checkpoint read. ``bundlefast convert --rename`` and
``restore(map=...)`` take the same file.

    # target                 source
    encoder/embeddings       bert/embeddings/word_embeddings
    encoder/layer_0/q/kernel bert/encoder/layer_0/attention/self/query/kernel
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import InvalidArgumentError


def read_rename_map(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{target: source}`` from a rename-map file (format above).

    Raises:
        InvalidArgumentError: a line without exactly two names, a target given twice,
            or JSON that is not an object of strings; the message names file and line.
        OSError: the file cannot be read.
    """
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        return _from_json(path, text)
    mapping: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split()
        if len(fields) != 2:
            msg = (f"{path}:{number}: expected 'TARGET SOURCE' (two names), found {len(fields)} field(s); "
                   "names with spaces need the JSON form {\"TARGET\": \"SOURCE\"}")  # fmt: skip
            raise InvalidArgumentError(msg)
        _put(mapping, fields[0], fields[1], f"{path}:{number}")
    return mapping


def _from_json(path: str | os.PathLike[str], text: str) -> dict[str, str]:
    try:
        pairs = json.loads(text, object_pairs_hook=list)
    except json.JSONDecodeError as err:
        msg = f"{path}:{err.lineno}: not valid JSON ({err.msg})"
        raise InvalidArgumentError(msg) from None
    mapping: dict[str, str] = {}
    for target, source in pairs:
        if not isinstance(source, str):
            msg = f"{path}: the value of {target!r} is {type(source).__name__}, expected a tensor name (string)"
            raise InvalidArgumentError(msg)
        _put(mapping, target, source, str(path))
    return mapping


def _put(mapping: dict[str, str], target: str, source: str, where: str) -> None:
    if target in mapping:
        msg = f"{where}: {target!r} is given twice (as {mapping[target]!r} and {source!r})"
        raise InvalidArgumentError(msg)
    mapping[target] = source
