"""The object graph of a TF2 checkpoint, and the friendly names built from it (FORMAT.md 13).

A TF2 (object-based) checkpoint stores a serialized ``TrackableObjectGraph`` proto
under ``_CHECKPOINTABLE_OBJECT_GRAPH``, as a DT_STRING scalar. This module decodes it
with a small protobuf wire decoder written in pure Python. The decoder checks bounds
and raises :class:`~bundlefast.CorruptionError` on malformed bytes. Like protobuf, it
skips unknown fields. We do not depend on the protobuf package.

Friendly names (see :meth:`bundlefast.Reader.friendly_names`):

* A tensor saved as attribute ``A`` of the object at path ``p`` from the root
  (``p/.ATTRIBUTES/A`` with every path component escaped) is called ``p`` if ``A`` is
  ``VARIABLE_VALUE``, else ``p/A``. Some attributes save several tensors, whose keys
  extend the attribute's ``checkpoint_key`` with a suffix ``s``; those are called
  ``p/As``. For example, a ``MutableHashTable`` attribute ``table`` saves
  ``table/table-keys`` and ``table/table-values``, and a ``tf.data`` iterator attribute
  ``ITERATOR`` saves ``it/ITERATOR_STATE``. The components of ``p`` are the objects' local
  names, unescaped (``..`` is ``.`` and ``.S`` is ``/``). The path is the first one
  found breadth-first from the root. That is the path TF itself used to build the key.
* An optimizer slot variable is called ``<variable>@<optimizer>/<slot>``. For example
  ``model/dense/kernel@optimizer/m`` is the key
  ``model/dense/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE``.
* If two tensors would get the same friendly name, both keep their raw keys. This can
  happen because local names may contain ``/`` or ``@``. A tensor whose friendly path
  would be empty (an attribute of the root object) also keeps its raw key.

Aliases (see :meth:`bundlefast.Reader.aliases`, at the end of this module) name each
tensor by *every* path that reaches its object, not only the first: a Keras 3 kernel
saved as ``optimizer/_trainable_variables/1`` is also ``model/_operations/3/_kernel``.
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._wire import WIRE_LEN, WIRE_VARINT, decode_str, fields, int32
from .errors import CorruptionError

if TYPE_CHECKING:
    from ._reader import Reader

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
VARIABLE_VALUE = "VARIABLE_VALUE"
SLOT_SEPARATOR = "@"

# --------------------------------------------------------------------------------------
# TrackableObjectGraph
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectReference:
    """``TrackableObject.ObjectReference``: an edge to a child object."""

    node_id: int
    local_name: str


@dataclass(frozen=True)
class SerializedTensor:
    """``TrackableObject.SerializedTensor``: one saved attribute of an object."""

    name: str  # e.g. VARIABLE_VALUE
    full_name: str  # the TF1-style variable name
    checkpoint_key: str  # the bundle key


@dataclass(frozen=True)
class SlotVariableReference:
    """``TrackableObject.SlotVariableReference``, held by the optimizer's node."""

    original_variable_node_id: int
    slot_name: str
    slot_variable_node_id: int


@dataclass(frozen=True)
class TrackableObject:
    """One node of the graph (unused fields such as ``registered_saver`` are skipped)."""

    children: tuple[ObjectReference, ...]
    attributes: tuple[SerializedTensor, ...]
    slot_variables: tuple[SlotVariableReference, ...]


@dataclass(frozen=True)
class ObjectGraph:
    """A decoded ``TrackableObjectGraph``. Node 0 is the root."""

    nodes: tuple[TrackableObject, ...]

    def paths(self) -> dict[int, tuple[str, ...]]:
        """The local-name path from the root to every object reachable through
        ``children``: the first path found breadth-first, as TF finds it when saving.

        Raises:
            CorruptionError: a child reference names a node that does not exist.
        """
        if not self.nodes:
            return {}
        paths: dict[int, tuple[str, ...]] = {0: ()}
        queue = deque([0])
        while queue:
            node_id = queue.popleft()
            for ref in self.nodes[node_id].children:
                self._check_id(ref.node_id, f"nodes[{node_id}].children")
                if ref.node_id not in paths:
                    paths[ref.node_id] = (*paths[node_id], ref.local_name)
                    queue.append(ref.node_id)
        return paths

    def _check_id(self, node_id: int, where: str) -> None:
        if not 0 <= node_id < len(self.nodes):
            raise CorruptionError(
                f"{OBJECT_GRAPH_KEY}: {where} refers to node {node_id}, but the graph has {len(self.nodes)} nodes"
            )


def _reference(buf: bytes, start: int, end: int, what: str) -> ObjectReference:
    node_id, name = 0, ""
    for number, wire, a, b in fields(buf, start, end, what):
        if number == 1 and wire == WIRE_VARINT:
            node_id = int32(a)
        elif number == 2 and wire == WIRE_LEN:
            name = decode_str(buf, a, b)
    return ObjectReference(node_id, name)


def _attribute(buf: bytes, start: int, end: int, what: str) -> SerializedTensor:
    text = ["", "", ""]
    for number, wire, a, b in fields(buf, start, end, what):
        if 1 <= number <= 3 and wire == WIRE_LEN:
            text[number - 1] = decode_str(buf, a, b)
    return SerializedTensor(*text)


def _slot(buf: bytes, start: int, end: int, what: str) -> SlotVariableReference:
    original, name, slot = 0, "", 0
    for number, wire, a, b in fields(buf, start, end, what):
        if number == 1 and wire == WIRE_VARINT:
            original = int32(a)
        elif number == 2 and wire == WIRE_LEN:
            name = decode_str(buf, a, b)
        elif number == 3 and wire == WIRE_VARINT:
            slot = int32(a)
    return SlotVariableReference(original, name, slot)


def _node(buf: bytes, start: int, end: int, what: str) -> TrackableObject:
    children: list[ObjectReference] = []
    attributes: list[SerializedTensor] = []
    slots: list[SlotVariableReference] = []
    for number, wire, a, b in fields(buf, start, end, what):
        if wire != WIRE_LEN:
            continue
        if number == 1:
            children.append(_reference(buf, a, b, f"{what}.children[{len(children)}]"))
        elif number == 2:
            attributes.append(_attribute(buf, a, b, f"{what}.attributes[{len(attributes)}]"))
        elif number == 3:
            slots.append(_slot(buf, a, b, f"{what}.slot_variables[{len(slots)}]"))
        elif number in (4, 5):  # registered_saver, has_checkpoint_values: only checked
            for _ in fields(buf, a, b, what):
                pass
    return TrackableObject(tuple(children), tuple(attributes), tuple(slots))


def parse_object_graph(data: bytes) -> ObjectGraph:
    """Decode a serialized ``TrackableObjectGraph``.

    Raises:
        CorruptionError: truncated or malformed wire data (the message gives the field
            path and byte offset), or a reference to a node that does not exist.
    """
    buf = bytes(data)
    nodes: list[TrackableObject] = []
    for number, wire, a, b in fields(buf, 0, len(buf), OBJECT_GRAPH_KEY):
        if number == 1 and wire == WIRE_LEN:
            nodes.append(_node(buf, a, b, f"{OBJECT_GRAPH_KEY}: nodes[{len(nodes)}]"))
    graph = ObjectGraph(tuple(nodes))
    for i, node in enumerate(graph.nodes):
        for j, ref in enumerate(node.children):
            graph._check_id(ref.node_id, f"nodes[{i}].children[{j}]")
        for j, slot in enumerate(node.slot_variables):
            graph._check_id(slot.original_variable_node_id, f"nodes[{i}].slot_variables[{j}]")
            graph._check_id(slot.slot_variable_node_id, f"nodes[{i}].slot_variables[{j}]")
    return graph


# --------------------------------------------------------------------------------------
# Friendly names
# --------------------------------------------------------------------------------------


def _key_owners(graph: ObjectGraph, keys: Collection[str]) -> dict[str, tuple[int, SerializedTensor]]:
    """``{bundle key: (node id, attribute)}`` for the keys some attribute saves.

    A bundle key belongs to the attribute whose checkpoint_key is its longest prefix:
    multi-tensor saveables append a suffix (a MutableHashTable's attribute "table" saves
    "table-keys" and "table-values"; an iterator's "ITERATOR" saves "ITERATOR_STATE")."""
    sorted_keys = sorted(keys)
    owners: dict[str, tuple[int, SerializedTensor]] = {}
    for node_id, node in enumerate(graph.nodes):
        for attr in node.attributes:
            prefix = attr.checkpoint_key
            if not prefix:
                continue
            i = bisect.bisect_left(sorted_keys, prefix)
            while i < len(sorted_keys) and sorted_keys[i].startswith(prefix):
                key = sorted_keys[i]
                if key not in owners or len(owners[key][1].checkpoint_key) < len(prefix):
                    owners[key] = (node_id, attr)
                i += 1
    return owners


def friendly_names_from_graph(
    graph: ObjectGraph, keys: Collection[str], *, include_slots: bool = False
) -> dict[str, str]:
    """``{friendly name: bundle key}`` for the keys in ``keys`` that belong to an attribute
    of ``graph`` (see the module docstring for the naming rules), sorted by friendly name."""
    paths = graph.paths()
    slot_of: dict[int, tuple[int, int, str]] = {}  # slot node -> (optimizer, variable, slot name)
    for optimizer, node in enumerate(graph.nodes):
        for ref in node.slot_variables:
            slot_of.setdefault(ref.slot_variable_node_id, (optimizer, ref.original_variable_node_id, ref.slot_name))

    owners = _key_owners(graph, keys)
    chosen: dict[str, str] = {}  # key -> candidate friendly name
    for key in sorted(owners):
        node_id, attr = owners[key]
        suffix = key[len(attr.checkpoint_key) :]
        if node_id in slot_of:
            if not include_slots:
                continue
            optimizer, variable, slot_name = slot_of[node_id]
            if variable in paths and optimizer in paths and paths[variable]:
                base = "/".join(paths[variable]) + SLOT_SEPARATOR + "/".join((*paths[optimizer], slot_name))
            else:
                base = ""
        else:
            base = "/".join(paths.get(node_id, ()))
        if not base:
            chosen[key] = key  # not reachable by name (or the root itself)
        elif attr.name == VARIABLE_VALUE and not suffix:
            chosen[key] = base
        else:
            chosen[key] = f"{base}/{attr.name}{suffix}"

    names = chosen
    while True:
        counts = Counter(names.values())
        clashing = {name for name, count in counts.items() if count > 1}
        if not clashing:
            break
        names = {key: (key if name in clashing else name) for key, name in names.items()}
    return {name: key for key, name in sorted(names.items(), key=lambda kv: kv[1])}


def reader_object_graph(reader: Reader) -> ObjectGraph | None:
    """The reader's decoded object graph, or None for a name-based (TF1) checkpoint."""
    if OBJECT_GRAPH_KEY not in reader:
        return None
    value = reader.get_array(OBJECT_GRAPH_KEY)
    raw = value[()] if value.shape == () else None
    if not isinstance(raw, bytes):
        what = f"dtype {value.dtype}, shape {list(value.shape)}"
        msg = f"{reader.prefix}: {OBJECT_GRAPH_KEY} is not a string scalar ({what})"
        raise CorruptionError(msg)
    try:
        return parse_object_graph(raw)
    except CorruptionError as err:
        msg = f"{reader.prefix}: {err}"
        raise CorruptionError(msg) from None


def reader_friendly_names(reader: Reader, *, include_slots: bool = False) -> dict[str, str]:
    """:meth:`bundlefast.Reader.friendly_names` (see there)."""
    keys = list(reader)  # slice entries are hidden by the core
    graph = reader_object_graph(reader)
    if graph is None:
        return {name: name for name in sorted(keys)}
    return friendly_names_from_graph(graph, set(keys), include_slots=include_slots)


# --------------------------------------------------------------------------------------
# Aliases: every path through the graph to each saved tensor
# --------------------------------------------------------------------------------------

#: at most this many paths are listed per object (the graph is a DAG that may share
#: objects along many routes; the count of simple paths can grow exponentially)
MAX_PATHS_PER_OBJECT = 256


def all_paths(graph: ObjectGraph, limit: int = MAX_PATHS_PER_OBJECT) -> dict[int, list[tuple[str, ...]]]:
    """Every path of local names from the root to each object through ``children``, a path
    never visiting an object twice; at most ``limit`` per object (so the work is bounded
    by ``limit`` times the number of edges). The first path of each object is the one
    :meth:`ObjectGraph.paths` gives (breadth-first, the one TF used in the key); the others
    follow, shortest first."""
    first = graph.paths()
    found: dict[int, list[tuple[str, ...]]] = {}
    stack: list[tuple[int, tuple[str, ...], frozenset[int]]] = [(0, (), frozenset([0]))] if graph.nodes else []
    while stack:
        node_id, path, on_path = stack.pop()
        seen = found.setdefault(node_id, [])
        if len(seen) >= limit:
            continue
        seen.append(path)
        for ref in reversed(graph.nodes[node_id].children):
            if ref.node_id not in on_path:
                stack.append((ref.node_id, (*path, ref.local_name), on_path | {ref.node_id}))
    for node_id, paths in found.items():
        paths.sort(key=lambda p: (p != first.get(node_id), len(p), p))
    return found


def aliases_from_graph(
    graph: ObjectGraph, keys: Collection[str], *, limit: int = MAX_PATHS_PER_OBJECT
) -> dict[str, tuple[str, ...]]:
    """``{bundle key: names}``: every name of each key through the graph, named as friendly
    names are (``path`` for a variable's value, ``path/A`` for another attribute, and
    ``variable@optimizer/slot`` for a slot variable), the friendly name first. Keys no
    attribute saves are left out."""
    paths = all_paths(graph, limit)
    slot_of: dict[int, list[tuple[int, int, str]]] = {}
    for optimizer, node in enumerate(graph.nodes):
        for ref in node.slot_variables:
            slot_of.setdefault(ref.slot_variable_node_id, []).append(
                (optimizer, ref.original_variable_node_id, ref.slot_name))
    out: dict[str, tuple[str, ...]] = {}
    for key, (node_id, attr) in sorted(_key_owners(graph, keys).items()):
        suffix = key[len(attr.checkpoint_key) :]
        bases = ["/".join(p) for p in paths.get(node_id, []) if p]
        for optimizer, variable, slot_name in slot_of.get(node_id, []):
            bases += [
                "/".join(v) + SLOT_SEPARATOR + "/".join((*o, slot_name))
                for v in paths.get(variable, []) if v
                for o in paths.get(optimizer, [])
            ][:limit]
        names = [b if attr.name == VARIABLE_VALUE and not suffix else f"{b}/{attr.name}{suffix}" for b in bases]
        if names:
            out[key] = tuple(dict.fromkeys(names))
    return out


def reader_aliases(reader: Reader) -> dict[str, tuple[str, ...]]:
    """:meth:`bundlefast.Reader.aliases` (see there)."""
    keys = list(reader)
    graph = reader_object_graph(reader)
    if graph is None:
        return {key: (key,) for key in sorted(keys)}
    return aliases_from_graph(graph, set(keys))
