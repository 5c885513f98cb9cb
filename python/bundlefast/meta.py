"""The ``.meta`` file of a TF1 ``Saver``: a ``MetaGraphDef``, read without TensorFlow.

``bundlefast.meta.read("model-1.meta")`` lists what ``tf.compat.v1.train.import_meta_graph``
followed by ``global_variables()`` would show: each variable's name, dtype, shape, whether
it is trainable, the checkpoint key the default ``Saver`` saves it under, and, for a part of
a partitioned variable, where that part sits in the full tensor (``save_slice_info``). It
also gives the ``SaverDef`` and the names of the graph's collections.

Only the fields needed for that are decoded (field numbers from TF's meta_graph.proto,
saver.proto, graph.proto, node_def.proto, attr_value.proto, tensor_shape.proto,
variable.proto, tensor.proto), through the one wire reader, :mod:`bundlefast._wire`:
malformed bytes raise :class:`~bundlefast.CorruptionError` naming the file, the field path
and the byte offset, and the work is bounded by the file's size.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _dtypes
from ._wire import WIRE_FIXED32, WIRE_LEN, WIRE_VARINT, decode_str, fields, int32, varint
from .errors import CorruptionError

__all__ = ["MetaGraph", "Partition", "SaverDef", "Variable", "parse", "read"]

#: the collections whose values are serialized ``VariableDef`` protos, in the order listed
VARIABLE_COLLECTIONS = ("variables", "local_variables", "model_variables", "trainable_variables")
#: ops that create a variable (their ``dtype`` and ``shape`` attrs describe it)
VARIABLE_OPS = frozenset({"VariableV2", "Variable", "VarHandleOp", "TemporaryVariable"})
SAVE_OPS = frozenset({"SaveV2", "SaveSlices", "Save"})


@dataclass(frozen=True)
class Partition:
    """Where a part of a partitioned variable sits (``SaveSliceInfoDef``)."""

    full_name: str  # the checkpoint key of the whole tensor
    full_shape: tuple[int, ...]
    offset: tuple[int, ...]  # of this part in the full tensor, per dimension
    shape: tuple[int, ...]  # of this part

    @property
    def region(self) -> tuple[slice, ...]:
        """The part as an index into the full tensor."""
        return tuple(slice(o, o + n) for o, n in zip(self.offset, self.shape))


@dataclass(frozen=True)
class Variable:
    """One variable of the graph, as ``global_variables()`` would list it."""

    name: str  # the op name, e.g. "encoder/layer_0/kernel" (".../part_0" for a part)
    tensor_name: str  # e.g. "encoder/layer_0/kernel:0"
    dtype: Any  # numpy dtype (None for dtypes with no NumPy equivalent)
    tf_dtype: str  # TF's name of the base dtype: "float32", "int64", ...
    shape: tuple[int, ...] | None  # -1 for an unknown dimension; None for unknown rank
    trainable: bool
    is_resource: bool
    checkpoint_key: str  # the key the default Saver saves it under
    partition: Partition | None  # set for one part of a partitioned variable
    collections: tuple[str, ...]  # which of VARIABLE_COLLECTIONS list it


@dataclass(frozen=True)
class SaverDef:
    """The graph's ``SaverDef``: how to run its save and restore ops."""

    filename_tensor_name: str
    save_tensor_name: str
    restore_op_name: str
    max_to_keep: int
    sharded: bool
    keep_checkpoint_every_n_hours: float
    version: int  # 0 LEGACY, 1 V1, 2 V2 (tensor bundles)


@dataclass(frozen=True)
class MetaGraph:
    """What :func:`read` decodes from a ``MetaGraphDef``."""

    variables: tuple[Variable, ...]  # "variables" first (global_variables()), then the rest
    saver_def: SaverDef | None
    collections: tuple[str, ...]  # every collection name, in file order
    saved_keys: tuple[str, ...]  # tensor names of the graph's save ops (every key a save writes)
    tensorflow_version: str
    tags: tuple[str, ...]

    @property
    def global_variables(self) -> tuple[Variable, ...]:
        return tuple(v for v in self.variables if "variables" in v.collections)

    @property
    def trainable_variables(self) -> tuple[Variable, ...]:
        return tuple(v for v in self.variables if v.trainable)

    def variable(self, name: str) -> Variable:
        """The variable called ``name`` (``scope/v`` or ``scope/v:0``).

        Raises:
            KeyError: no such variable (the message names a few that exist).
        """
        for v in self.variables:
            if name in (v.name, v.tensor_name):
                return v
        some = ", ".join(v.name for v in self.variables[:5])
        msg = f"no variable {name!r} in the graph (it has {len(self.variables)}: {some}, ...)"
        raise KeyError(msg)


def read(path: str | os.PathLike[str]) -> MetaGraph:
    """Decode the ``MetaGraphDef`` in the file ``path`` (a TF1 ``Saver``'s ``P.meta``).

    Raises:
        FileNotFoundError / OSError: the file cannot be read.
        CorruptionError: malformed bytes (the message names the file, field and byte).

    Example:
        >>> g = bundlefast.meta.read("model-1.meta")
        >>> [(v.name, v.shape, v.checkpoint_key) for v in g.variables]
    """
    data = Path(path).read_bytes()
    try:
        return parse(data)
    except CorruptionError as err:
        msg = f"{os.fspath(path)}: {err}"
        raise CorruptionError(msg) from None


def parse(data: bytes) -> MetaGraph:
    """Decode a serialized ``MetaGraphDef`` (see :func:`read`)."""
    buf = bytes(data)
    graph = (0, 0)
    saver: SaverDef | None = None
    collections: list[tuple[str, int, int]] = []  # name, CollectionDef payload
    version, tags = "", []
    for number, wire, a, b in fields(buf, 0, len(buf), "MetaGraphDef"):
        if wire != WIRE_LEN:
            continue
        if number == 1:
            version, tags = _meta_info(buf, a, b)
        elif number == 2:
            graph = (a, b)
        elif number == 3:
            saver = _saver_def(buf, a, b)
        elif number == 4:
            collections.append(_map_entry(buf, a, b, f"MetaGraphDef.collection_def[{len(collections)}]"))
    nodes = _GraphNodes(buf, *graph)
    variables = _variables(buf, collections, nodes)
    return MetaGraph(
        variables=variables,
        saver_def=saver,
        collections=tuple(name for name, _, _ in collections),
        saved_keys=nodes.saved_keys(),
        tensorflow_version=version,
        tags=tuple(tags),
    )


# --------------------------------------------------------------------------------------
# Small messages
# --------------------------------------------------------------------------------------


def _strings(buf: bytes, start: int, end: int, what: str, field: int = 1) -> Iterator[str]:
    for number, wire, a, b in fields(buf, start, end, what):
        if number == field and wire == WIRE_LEN:
            yield decode_str(buf, a, b)


def _int64s(buf: bytes, number_wanted: int, wire: int, a: int, b: int, what: str) -> Iterator[int]:
    """A repeated int64 field's values: one unpacked varint, or a packed run of them."""
    if wire == WIRE_VARINT:
        yield _int64(a)
    elif wire == WIRE_LEN:
        pos = a
        while pos < b:
            value, pos = varint(buf, pos, b, f"{what} (packed field {number_wanted})")
            yield _int64(value)


def _int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _meta_info(buf: bytes, start: int, end: int) -> tuple[str, list[str]]:
    version, tags = "", []
    for number, wire, a, b in fields(buf, start, end, "MetaGraphDef.meta_info_def"):
        if number == 4 and wire == WIRE_LEN:
            tags.append(decode_str(buf, a, b))
        elif number == 5 and wire == WIRE_LEN:
            version = decode_str(buf, a, b)
    return version, tags


def _saver_def(buf: bytes, start: int, end: int) -> SaverDef:
    text = ["", "", ""]
    max_to_keep, sharded, hours, version = 0, False, 0.0, 0
    for number, wire, a, b in fields(buf, start, end, "MetaGraphDef.saver_def"):
        if 1 <= number <= 3 and wire == WIRE_LEN:
            text[number - 1] = decode_str(buf, a, b)
        elif number == 4 and wire == WIRE_VARINT:
            max_to_keep = int32(a)
        elif number == 5 and wire == WIRE_VARINT:
            sharded = a != 0
        elif number == 6 and wire == WIRE_FIXED32:
            hours = struct.unpack("<f", a.to_bytes(4, "little"))[0]
        elif number == 7 and wire == WIRE_VARINT:
            version = int32(a)
    return SaverDef(*text, max_to_keep, sharded, hours, version)  # type: ignore[arg-type]


def _map_entry(buf: bytes, start: int, end: int, what: str) -> tuple[str, int, int]:
    """A ``map<string, Message>`` entry: (key, value payload start, end)."""
    key, value = "", (start, start)
    for number, wire, a, b in fields(buf, start, end, what):
        if number == 1 and wire == WIRE_LEN:
            key = decode_str(buf, a, b)
        elif number == 2 and wire == WIRE_LEN:
            value = (a, b)
    return key, *value


def _bytes_list(buf: bytes, start: int, end: int, what: str) -> list[tuple[int, int]]:
    """The values of a ``CollectionDef`` that holds a ``bytes_list`` (else none)."""
    out: list[tuple[int, int]] = []
    for number, wire, a, b in fields(buf, start, end, what):
        if number == 2 and wire == WIRE_LEN:
            out.extend((c, d) for n, w, c, d in fields(buf, a, b, f"{what}.bytes_list") if n == 1 and w == WIRE_LEN)
    return out


def _shape(buf: bytes, start: int, end: int, what: str) -> tuple[int, ...] | None:
    """A ``TensorShapeProto``: dims (-1 unknown), or None for an unknown rank."""
    dims: list[int] = []
    for number, wire, a, b in fields(buf, start, end, what):
        if number == 2 and wire == WIRE_LEN:
            size = 0
            for n, w, c, _ in fields(buf, a, b, f"{what}.dim[{len(dims)}]"):
                if n == 1 and w == WIRE_VARINT:
                    size = _int64(c)
            dims.append(size)
        elif number == 3 and wire == WIRE_VARINT and a:
            return None
    return tuple(dims)


# --------------------------------------------------------------------------------------
# The graph's nodes (only the few a variable list needs are decoded in full)
# --------------------------------------------------------------------------------------


class _GraphNodes:
    """The ``GraphDef``'s nodes by name, each decoded only as far as needed."""

    def __init__(self, buf: bytes, start: int, end: int) -> None:
        self.buf = buf
        self.by_name: dict[str, tuple[str, int, int]] = {}  # name -> (op, payload start, end)
        for i, (number, wire, a, b) in enumerate(fields(buf, start, end, "MetaGraphDef.graph_def")):
            if number == 1 and wire == WIRE_LEN:
                name, op = "", ""
                for n, w, c, d in fields(buf, a, b, f"MetaGraphDef.graph_def.node (field {i})"):
                    if n == 1 and w == WIRE_LEN:
                        name = decode_str(buf, c, d)
                    elif n == 2 and w == WIRE_LEN:
                        op = decode_str(buf, c, d)
                self.by_name[name] = (op, a, b)

    def attrs(self, name: str) -> dict[str, tuple[int, int]]:
        """``{attr name: AttrValue payload}`` of node ``name``."""
        _, a, b = self.by_name[name]
        what = f"node {name!r}"
        out: dict[str, tuple[int, int]] = {}
        for n, w, c, d in fields(self.buf, a, b, what):
            if n == 5 and w == WIRE_LEN:
                key, value_start, value_end = _map_entry(self.buf, c, d, f"{what}.attr")
                out[key] = (value_start, value_end)
        return out

    def inputs(self, name: str) -> list[str]:
        _, a, b = self.by_name[name]
        return list(_strings(self.buf, a, b, f"node {name!r}", field=3))

    def type_attr(self, name: str, attr: str) -> int | None:
        value = self.attrs(name).get(attr)
        if value is None:
            return None
        for n, w, c, _ in fields(self.buf, *value, f"node {name!r}.attr[{attr!r}]"):
            if n == 6 and w == WIRE_VARINT:
                return int32(c)
        return None

    def shape_attr(self, name: str, attr: str) -> tuple[int, ...] | None:
        value = self.attrs(name).get(attr)
        if value is None:
            return None
        what = f"node {name!r}.attr[{attr!r}]"
        for n, w, c, d in fields(self.buf, *value, what):
            if n == 7 and w == WIRE_LEN:
                return _shape(self.buf, c, d, f"{what}.shape")
        return None

    def const_strings(self, name: str) -> list[str]:
        """The ``string_val`` of a ``Const`` node's ``value`` tensor."""
        value = self.attrs(name).get("value")
        if value is None:
            return []
        what = f"node {name!r}.attr['value']"
        out: list[str] = []
        for n, w, c, d in fields(self.buf, *value, what):
            if n == 8 and w == WIRE_LEN:
                out.extend(_strings(self.buf, c, d, f"{what}.tensor", field=8))
        return out

    def saved_keys(self) -> tuple[str, ...]:
        """Every tensor name the graph's save ops write (input 1 of SaveV2 is a Const)."""
        keys: list[str] = []
        for name, (op, _, _) in self.by_name.items():
            if op in SAVE_OPS:
                inputs = self.inputs(name)
                source = inputs[1].split(":")[0] if len(inputs) > 1 else ""
                if source in self.by_name:
                    keys.extend(self.const_strings(source))
        return tuple(sorted(set(keys)))


# --------------------------------------------------------------------------------------
# Variables
# --------------------------------------------------------------------------------------


def _variable_def(buf: bytes, start: int, end: int, what: str) -> tuple[str, bool, bool, Partition | None]:
    tensor_name, trainable, is_resource, partition = "", False, False, None
    for number, wire, a, b in fields(buf, start, end, what):
        if number == 1 and wire == WIRE_LEN:
            tensor_name = decode_str(buf, a, b)
        elif number == 4 and wire == WIRE_LEN:
            partition = _slice_info(buf, a, b, f"{what}.save_slice_info_def")
        elif number == 5 and wire == WIRE_VARINT:
            is_resource = a != 0
        elif number == 7 and wire == WIRE_VARINT:
            trainable = a != 0
    return tensor_name, trainable, is_resource, partition


def _slice_info(buf: bytes, start: int, end: int, what: str) -> Partition:
    full_name = ""
    lists: dict[int, list[int]] = {2: [], 3: [], 4: []}
    for number, wire, a, b in fields(buf, start, end, what):
        if number == 1 and wire == WIRE_LEN:
            full_name = decode_str(buf, a, b)
        elif number in lists:
            lists[number].extend(_int64s(buf, number, wire, a, b, what))
    full, offset, shape = (tuple(lists[n]) for n in (2, 3, 4))
    if not (len(full) == len(offset) == len(shape)) or any(
        o < 0 or n < 0 or o + n > f for f, o, n in zip(full, offset, shape)
    ):
        msg = f"{what}: part at offset {list(offset)} of shape {list(shape)} does not fit full shape {list(full)}"
        raise CorruptionError(msg)
    return Partition(full_name, full, offset, shape)


def _variables(buf: bytes, collections: list[tuple[str, int, int]], nodes: _GraphNodes) -> tuple[Variable, ...]:
    found: dict[str, dict[str, Any]] = {}  # tensor name -> fields, in first-listed order
    by_collection = {name: (a, b) for name, a, b in collections}
    for collection in VARIABLE_COLLECTIONS:
        if collection not in by_collection:
            continue
        what = f"MetaGraphDef.collection_def[{collection!r}]"
        for i, (a, b) in enumerate(_bytes_list(buf, *by_collection[collection], what)):
            tensor_name, trainable, is_resource, partition = _variable_def(buf, a, b, f"{what}.value[{i}]")
            entry = found.setdefault(
                tensor_name,
                {"trainable": trainable, "is_resource": is_resource, "partition": partition, "collections": []},
            )
            entry["collections"].append(collection)
            # Graphs older than VariableDef.trainable only say it by collection.
            entry["trainable"] = entry["trainable"] or collection == "trainable_variables"
    out = []
    for tensor_name, entry in found.items():
        name = tensor_name.split(":")[0]
        if name not in nodes.by_name:
            msg = f"variable {tensor_name!r} has no node {name!r} in the graph"
            raise CorruptionError(msg)
        enum = nodes.type_attr(name, "dtype")
        shape = nodes.shape_attr(name, "shape")
        partition = entry["partition"]
        out.append(
            Variable(
                name=name,
                tensor_name=tensor_name,
                dtype=None if enum is None else _dtypes.numpy_dtype(enum),
                tf_dtype="" if enum is None else _dtypes.tf_name(enum),
                shape=shape,
                trainable=entry["trainable"],
                is_resource=entry["is_resource"],
                checkpoint_key=partition.full_name if partition else name,
                partition=partition,
                collections=tuple(entry["collections"]),
            )
        )
    return tuple(out)
