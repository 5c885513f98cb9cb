"""A ``tf.train``-compatible surface, without TensorFlow.

Drop-in replacements for the checkpoint-reading functions of ``tf.train``. They give
the same results as TensorFlow 2.21 on the same inputs::

    reader = bundlefast.load_checkpoint("train_dir")          # tf.train.load_checkpoint
    reader.get_tensor("dense/kernel")                        # fresh, writable ndarray
    reader.get_variable_to_shape_map()                       # {name: [dims]}
    bundlefast.list_variables("train_dir")                   # sorted [(name, [dims])]
    bundlefast.load_variable("train_dir", "dense/kernel:0")  # ":0" is stripped, as TF does
    bundlefast.latest_checkpoint("train_dir")                # "train_dir/ckpt-3" or None
    for path in bundlefast.checkpoints_iterator("train_dir", timeout=60): ...

Known differences from TensorFlow, by design:

* **Exceptions.** A missing tensor name raises :class:`~bundlefast.TensorNotFoundError`,
  a ``KeyError``. TF raises ``tf.errors.NotFoundError``. A missing checkpoint file raises
  ``FileNotFoundError``, also where TF raises ``NotFoundError``. A DT_VARIANT tensor raises
  :class:`~bundlefast.UnsupportedError`, where TF raises ``InternalError``. A V1 checkpoint
  also raises :class:`~bundlefast.UnsupportedError`; TF reads it. Errors TF raises as
  ``ValueError`` are ``ValueError`` here too.
* **dtypes.** Without TensorFlow we cannot return ``tf.DType``.
  ``get_variable_to_dtype_map()`` returns :class:`DType` objects instead. They have the
  same ``repr`` (``tf.float32``), ``name``, ``as_numpy_dtype`` and ``as_datatype_enum``,
  and compare equal to the matching ``tf.DType`` (in both directions), to its name
  (``"float32"``), to its enum value, and to the NumPy type.
* **Paths are literal.** TF treats a prefix as a glob pattern. We never glob, so a prefix
  holding ``[``, ``*`` or ``?`` names exactly that file. TF's V1 sharded pattern
  ``P-?????-of-N`` is recognised, but only to refuse V1 checkpoints.
* **Friendlier file arguments.** ``load_checkpoint("P.index")`` reads checkpoint P.
  TF opens ``P.index`` as a V1 table and reports zero variables. ``P.data-…`` and
  ``P.meta`` paths are accepted too. Directories keep TF's rule: they are resolved
  through their ``checkpoint`` state file only, as in TF, and otherwise raise
  ``ValueError``. That message suggests the call that works (for example, for a
  SavedModel).
* ``has_tensor("")`` is False. TF answers True, because the header entry has the empty
  key.
* ``CheckpointReader`` keeps the checkpoint's data files mapped. Call ``close()`` or use
  it as a context manager to release them; TF has no ``close``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from . import _core, _dtypes
from ._prefix import CheckpointState, checkpoint_files_exist, resolve_prefix
from ._sources import is_url, remote_checkpoint_state, remote_index_exists
from ._prefix import get_checkpoint_state as _get_checkpoint_state
from ._reader import Reader
from .errors import BundleError, InvalidArgumentError, UnsupportedError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CheckpointReader",
    "CheckpointState",
    "DType",
    "checkpoints_iterator",
    "get_checkpoint_state",
    "latest_checkpoint",
    "list_variables",
    "load_checkpoint",
    "load_variable",
]

_log = logging.getLogger("bundlefast")

# TF's extra spellings accepted by tf.as_dtype (besides each dtype's own name).
_NAME_ALIASES = {"half": "float16", "float": "float32", "double": "float64"}
_QUANTIZED = {11, 12, 13, 15, 16}  # qint8, quint8, qint32, qint16, quint16
_DT_VARIANT = 21


class DType:
    """Stands in for ``tf.DType`` in :meth:`CheckpointReader.get_variable_to_dtype_map`.

    ``repr`` is TF's (``tf.float32``), and so is ``str`` (``<dtype: 'float32'>``).
    Compares equal to the same dtype given as one of ours, a ``tf.DType``, a name
    (``"float32"``, and TF's aliases ``"float"``, ``"half"``, ``"double"``), a DataType
    enum value, or a NumPy type or dtype.

    Example:
        >>> dt = bundlefast.load_checkpoint("ckpt-1").get_variable_to_dtype_map()["w"]
        >>> dt == "float32", dt.as_numpy_dtype, dt == tf.float32
        (True, <class 'numpy.float32'>, True)
    """

    __slots__ = ("_enum",)

    def __init__(self, datatype_enum: int) -> None:
        self._enum = int(datatype_enum)

    @property
    def name(self) -> str:
        """TF's name of the dtype: ``float32``, ``qint8``, ``string``, ``variant``, ..."""
        return _dtypes.tf_name(self._enum)

    @property
    def as_datatype_enum(self) -> int:
        """The ``DataType`` enum value (``tf.float32.as_datatype_enum == 1``)."""
        return self._enum

    @property
    def is_quantized(self) -> bool:
        return self._enum in _QUANTIZED

    @property
    def as_numpy_dtype(self) -> Any:
        """What ``tf.DType.as_numpy_dtype`` returns. That is a NumPy (or ml_dtypes)
        scalar type, ``object`` for strings, or TF's structured dtype for quantized types
        (e.g. ``dtype([('qint8', 'i1')])``).

        Raises:
            TypeError: ``resource`` and ``variant`` have no NumPy equivalent (TF raises
                KeyError here).
        """
        import numpy as np

        if self._enum in _QUANTIZED:
            return np.dtype([(self.name, _dtypes.numpy_dtype(self._enum))])
        dtype = _dtypes.numpy_dtype(self._enum)
        if dtype is None:
            msg = f"tf.{self.name} has no NumPy equivalent"
            raise TypeError(msg)
        return object if dtype == np.dtype(object) else dtype.type

    def __repr__(self) -> str:
        return f"tf.{self.name}"

    def __str__(self) -> str:
        return f"<dtype: {self.name!r}>"

    def __hash__(self) -> int:
        return hash(self._enum)  # as tf.DType: equal to the enum value's hash

    def __eq__(self, other: object) -> bool:
        return _enum_of(other) == self._enum

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __reduce__(self) -> tuple[Any, ...]:
        return (DType, (self._enum,))


def _enum_of(value: object) -> int | None:
    """The DataType enum ``value`` stands for, or None (the rules of ``tf.as_dtype``)."""
    if value is None:
        return None
    if isinstance(value, DType):
        return value.as_datatype_enum
    enum = getattr(value, "as_datatype_enum", None)  # a tf.DType
    if isinstance(enum, int):
        return enum
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value in _dtypes.known_enums() else None
    if isinstance(value, str):
        name = _NAME_ALIASES.get(value, value)
        return _dtypes.enum_named(name)
    try:
        import numpy as np

        dtype = np.dtype(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    if dtype.names:  # TF's structured quantized dtypes
        name = dtype.names[0] if len(dtype.names) == 1 else ""
        return next((e for e in _QUANTIZED if _dtypes.tf_name(e) == name), None)
    if not dtype.isnative:  # not this machine's byte order: none of ours
        return None
    return next((e for e in _dtypes.enums_of_numpy_name(dtype.name) if e not in _QUANTIZED), None)


# --------------------------------------------------------------------------------------
# Slice keys (FORMAT.md 6.2): TF's debug_string lists them
# --------------------------------------------------------------------------------------

# ``EncodeTensorNameSlice``: the index key of one slice of a tensor (the C++ core's).
encode_slice_key = _core.encode_slice_key


def _key_bytes(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def _as_name(name: object) -> str:
    if isinstance(name, str):
        return name
    if isinstance(name, (bytes, bytearray)):
        return bytes(name).decode("utf-8", "surrogateescape")
    msg = f"tensor name must be str or bytes, not {type(name).__name__}"
    raise TypeError(msg)


def _scan(
    reader: Reader, slice_entries: dict[bytes, tuple[int, list[int]]], sliced: set[str]
) -> dict[str, tuple[int, list[int]]]:
    """``{name: (dtype enum, shape)}`` of the tensors TF lists, in key order (the core
    already hides slice entries, as TF's CheckpointReader does). Fills ``slice_entries``
    (slice key -> dtype, slice shape) and ``sliced`` (partitioned names)."""
    core = reader._live()
    entries: dict[str, tuple[int, list[int]]] = {}
    for name in core.keys():  # noqa: SIM118 - the core reader is not a dict
        entry = core.info(name)
        enum, shape, slices = entry.dtype, entry.shape, entry.slices
        entries[name] = (int(enum), [int(d) for d in shape])
        if slices:
            sliced.add(name)
        for extents in slices:
            key = encode_slice_key(_key_bytes(name), tuple(extents))
            dims = [n if n >= 0 else d for (_, n), d in zip(extents, shape)]
            slice_entries[key] = (int(enum), dims)
    return entries


# --------------------------------------------------------------------------------------
# CheckpointReader
# --------------------------------------------------------------------------------------


class CheckpointReader:
    """What ``tf.train.load_checkpoint`` returns, reading with bundlefast.

    Tensors are listed as TF lists them. A partitioned (sliced) tensor appears once,
    under its name and full shape; its slice entries are hidden.

    Args:
        prefix: a checkpoint prefix, or a ``P.index``/``P.data-…``/``P.meta`` path. A
            directory is resolved by :func:`bundlefast.resolve_prefix` here; use
            :func:`load_checkpoint` for TF's directory rule. An fsspec URL is read
            remotely (see :func:`bundlefast.open`).
        storage_options: for URLs, passed to fsspec.

    Raises:
        FileNotFoundError: no checkpoint there (TF: ``NotFoundError``).
        UnsupportedError: a V1 checkpoint.
        CorruptionError: a damaged index.

    Example:
        >>> with bundlefast.CheckpointReader("ckpt-1") as r:
        ...     print(r.get_tensor("w").sum(), r.get_variable_to_shape_map()["w"])
    """

    def __init__(
        self, prefix: str | bytes | os.PathLike[str], *, storage_options: dict[str, Any] | None = None
    ) -> None:
        if is_url(prefix):
            self._reader = Reader(prefix, storage_options=storage_options)  # type: ignore[arg-type]
        else:
            self._reader = Reader(resolve_prefix(prefix), storage_options=storage_options)
        self._entries: dict[str, tuple[int, list[int]]] | None = None
        self._slice_entries: dict[bytes, tuple[int, list[int]]] = {}
        self._sliced: set[str] = set()

    @property
    def prefix(self) -> str:
        """The resolved checkpoint prefix."""
        return str(self._reader.prefix)

    def _scan(self) -> dict[str, tuple[int, list[int]]]:
        """``{visible name: (dtype enum, shape)}`` in key order; fills ``_slice_entries``."""
        if self._entries is None:
            self._entries = _scan(self._reader, self._slice_entries, self._sliced)
        return self._entries

    def get_tensor(self, tensor_str: str | bytes) -> Any:
        """The value of a tensor, as TF returns it: a fresh writable ndarray, a NumPy
        (or ml_dtypes) scalar for a 0-d numeric tensor, ``bytes`` for a 0-d string.
        String arrays are object arrays of ``bytes``.

        Raises:
            TensorNotFoundError: no tensor of that name (TF: ``NotFoundError``).
            UnsupportedError: a DT_VARIANT tensor, which TF cannot convert to NumPy
                either (TF: ``InternalError``). ``bundlefast.open(prefix)[name]`` returns
                its serialized ``VariantTensorDataProto`` elements.
            ChecksumError / CorruptionError: damaged data.
        """
        name = _as_name(tensor_str)
        entry = self._scan().get(name)
        if entry is not None and entry[0] == _DT_VARIANT:
            msg = (
                f"{self.prefix}: {name!r} is a DT_VARIANT tensor, which TensorFlow's get_tensor cannot "
                f"convert to NumPy either; bundlefast.open({self.prefix!r})[{name!r}] returns its "
                "serialized VariantTensorDataProto elements as bytes"
            )
            raise UnsupportedError(msg)
        array: np.ndarray = self._reader.get_array(name, copy=True)
        if array.ndim == 0:
            return array[()]
        return array

    def has_tensor(self, tensor_str: str | bytes) -> bool:
        """Whether the checkpoint has a (visible) tensor of that name."""
        return _as_name(tensor_str) in self._scan()

    def get_variable_to_shape_map(self) -> dict[str, list[int]]:
        """``{name: shape as a list of ints}`` for every tensor (slices hidden)."""
        return {name: list(shape) for name, (_, shape) in self._scan().items()}

    def get_variable_to_dtype_map(self) -> dict[str, DType]:
        """``{name: DType}`` for every tensor. :class:`DType` stands in for ``tf.DType``."""
        return {name: DType(enum) for name, (enum, _) in self._scan().items()}

    def debug_string(self) -> bytes:
        """TF's ``debug_string()``: one ``name (DT_FLOAT) [2,3]\\n`` line per index entry,
        in key order. As TF does, this lists the slice entries of a partitioned tensor
        (each with its slice's shape) instead of the tensor itself."""
        lines: dict[bytes, tuple[int, list[int]]] = {}
        for name, entry in self._scan().items():
            if name not in self._sliced:
                lines[_key_bytes(name)] = entry
        lines.update(self._slice_entries)
        out = []
        for key in sorted(lines):
            enum, shape = lines[key]
            dims = ",".join(str(d) for d in shape)
            out.append(key + f" ({_core.dtype_name(enum)}) [{dims}]\n".encode())
        return b"".join(out)

    # -- beyond TF --------------------------------------------------------------------
    def close(self) -> None:
        """Release the data-file mappings (arrays already returned stay valid)."""
        self._reader.close()

    def __enter__(self) -> CheckpointReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<bundlefast.CheckpointReader {self.prefix!r}>"


# --------------------------------------------------------------------------------------
# tf.train functions
# --------------------------------------------------------------------------------------


def get_checkpoint_state(
    checkpoint_dir: str | os.PathLike[str],
    latest_filename: str | None = None,
    *,
    storage_options: dict[str, Any] | None = None,
) -> CheckpointState | None:
    """``tf.train.get_checkpoint_state``: the parsed ``checkpoint`` state file.

    Relative paths are joined onto ``checkpoint_dir`` with ``os.path.join``, as TF does
    (for an fsspec URL, onto the directory URL; ``storage_options`` go to fsspec).

    Returns:
        A :class:`CheckpointState`, which has the proto's field names. None, after
        logging a warning, if the file is missing or does not parse.

    Raises:
        ValueError: the state file has an empty ``model_checkpoint_path``.

    Example:
        >>> bundlefast.get_checkpoint_state("train_dir").all_model_checkpoint_paths
        ['train_dir/ckpt-2', 'train_dir/ckpt-3']
    """
    if is_url(checkpoint_dir):
        return remote_checkpoint_state(str(checkpoint_dir), latest_filename, storage_options)
    return _get_checkpoint_state(checkpoint_dir, latest_filename)


def latest_checkpoint(
    checkpoint_dir: str | os.PathLike[str],
    latest_filename: str | None = None,
    *,
    storage_options: dict[str, Any] | None = None,
) -> str | None:
    """``tf.train.latest_checkpoint``: the prefix named by the directory's state file.

    Args:
        checkpoint_dir: the directory holding the state file, or its fsspec URL.
        latest_filename: the state file's name (default ``checkpoint``).
        storage_options: for URLs, passed to fsspec.

    Returns:
        ``model_checkpoint_path``, joined onto ``checkpoint_dir`` if it is relative.
        Returns None if there is no state file or it does not parse. Also None, with a
        logged error, if no checkpoint files exist at that path (e.g. a TF1 absolute path
        after the directory moved).

    Raises:
        ValueError: the state file has an empty ``model_checkpoint_path``.

    Example:
        >>> bundlefast.latest_checkpoint("train_dir")
        'train_dir/ckpt-3'
    """
    state = get_checkpoint_state(checkpoint_dir, latest_filename, storage_options=storage_options)
    if state is None or not state.model_checkpoint_path:
        return None
    path = state.model_checkpoint_path
    if is_url(path) and remote_index_exists(path, storage_options):
        return path
    if not is_url(path) and checkpoint_files_exist(path):
        return path
    _log.error("Couldn't match files for checkpoint %s", path)
    return None


def load_checkpoint(
    ckpt_dir_or_file: str | bytes | os.PathLike[str], *, storage_options: dict[str, Any] | None = None
) -> CheckpointReader:
    """``tf.train.load_checkpoint``: a :class:`CheckpointReader`.

    A directory is resolved with :func:`latest_checkpoint`, as in TF. Any other path is
    a checkpoint prefix, or a ``P.index``/``P.data-…``/``P.meta`` file. An fsspec URL
    (with ``storage_options``) is resolved by the same rules remotely (the directory's
    state file first) and read with ranged requests.

    Raises:
        ValueError: a directory without a usable ``checkpoint`` state file (TF's message;
            we add the call that would work, e.g. for a SavedModel).
        FileNotFoundError: no checkpoint at that path (TF: ``NotFoundError``).
        UnsupportedError: a V1 checkpoint.

    Example:
        >>> reader = bundlefast.load_checkpoint("train_dir")
        >>> reader.get_tensor("model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE").shape
    """
    if is_url(ckpt_dir_or_file):
        return CheckpointReader(ckpt_dir_or_file, storage_options=storage_options)
    path = os.fsdecode(ckpt_dir_or_file)
    if os.path.isdir(path):
        latest = latest_checkpoint(path)
        if latest is None:
            msg = f"Couldn't find 'checkpoint' file or checkpoints in given directory {path}"
            try:
                prefix = resolve_prefix(path)
            except (BundleError, OSError) as err:
                msg += f" ({err})"
            else:
                msg += (
                    f"; to read {prefix}, use bundlefast.load_checkpoint({str(prefix)!r}) "
                    f"or bundlefast.open({path!r})"
                )
            raise InvalidArgumentError(msg)
        path = latest
    return CheckpointReader(path)


def list_variables(
    ckpt_dir_or_file: str | bytes | os.PathLike[str], *, storage_options: dict[str, Any] | None = None
) -> list[tuple[str, list[int]]]:
    """``tf.train.list_variables``: ``[(name, shape)]`` sorted by name.

    Example:
        >>> bundlefast.list_variables("train_dir")[:1]
        [('_CHECKPOINTABLE_OBJECT_GRAPH', [])]
    """
    with load_checkpoint(ckpt_dir_or_file, storage_options=storage_options) as reader:
        shapes = reader.get_variable_to_shape_map()
    return [(name, shapes[name]) for name in sorted(shapes)]


def load_variable(
    ckpt_dir_or_file: str | bytes | os.PathLike[str], name: str, *, storage_options: dict[str, Any] | None = None
) -> Any:
    """``tf.train.load_variable``: one tensor, as :meth:`CheckpointReader.get_tensor`
    returns it. A trailing ``:0`` is stripped from ``name``, as TF does.

    Raises:
        TensorNotFoundError: no such tensor (TF: ``NotFoundError``).

    Example:
        >>> bundlefast.load_variable("train_dir", "dense/kernel:0").shape
    """
    if name.endswith(":0"):
        name = name[:-2]
    with load_checkpoint(ckpt_dir_or_file, storage_options=storage_options) as reader:
        return reader.get_tensor(name)


def _wait_for_new_checkpoint(
    checkpoint_dir: str | os.PathLike[str],
    last_checkpoint: str | None,
    seconds_to_sleep: float,
    timeout: float | None,
) -> str | None:
    """TF's ``wait_for_new_checkpoint``: poll until the latest checkpoint changes."""
    stop_time = time.time() + timeout if timeout is not None else None
    while True:
        path = latest_checkpoint(checkpoint_dir)
        if path is None or path == last_checkpoint:
            if stop_time is not None and time.time() + seconds_to_sleep > stop_time:
                return None
            time.sleep(seconds_to_sleep)
        else:
            return path


def checkpoints_iterator(
    checkpoint_dir: str | os.PathLike[str],
    min_interval_secs: float = 0,
    timeout: float | None = None,
    timeout_fn: Callable[[], bool] | None = None,
    *,
    seconds_to_sleep: float = 1,
) -> Iterator[str]:
    """``tf.train.checkpoints_iterator``: yield each new latest checkpoint as it appears.

    Polls :func:`latest_checkpoint` every ``seconds_to_sleep`` seconds. A checkpoint is
    yielded once; after yielding, the iterator waits until ``min_interval_secs`` have
    passed since the checkpoint was found. If no new checkpoint appears within
    ``timeout`` seconds, the iterator stops, unless ``timeout_fn`` is given and returns
    False, in which case it keeps waiting. As in TF, ``timeout_fn`` is also called after
    each yielded checkpoint, and the iterator stops when it returns True.

    Args:
        checkpoint_dir: the directory whose ``checkpoint`` state file is watched.
        min_interval_secs: minimum seconds between two yields.
        timeout: maximum seconds to wait for a new checkpoint; None waits forever.
        timeout_fn: called on timeout (and after each yield); True stops the iterator.
        seconds_to_sleep: the polling interval. TF fixes it at 1 second and does not
            expose it; it is a bundlefast extension.

    Example:
        >>> for prefix in bundlefast.checkpoints_iterator("train_dir", timeout=600):
        ...     evaluate(bundlefast.load(prefix))
    """
    checkpoint_path: str | None = None
    while True:
        new_path = _wait_for_new_checkpoint(checkpoint_dir, checkpoint_path, seconds_to_sleep, timeout)
        if new_path:
            start = time.time()
            checkpoint_path = new_path
            yield checkpoint_path
            time_to_next = start + min_interval_secs - time.time()
            if time_to_next > 0:
                time.sleep(time_to_next)
        elif timeout_fn is None:
            _log.info("Timed-out waiting for a checkpoint (without timeout_fn).")
            return
        if timeout_fn is not None and timeout_fn():
            _log.info("Done. No new checkpoints will be generated.")
            return
