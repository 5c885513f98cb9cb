"""The TF2 object graph (``_CHECKPOINTABLE_OBJECT_GRAPH``, FORMAT.md 13): the pure-Python
wire decoder, friendly names, ``Reader.friendly_names`` and ``bundlefast.load_friendly``."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from bundle_builder import BundleBuilder
from hypothesis import given, settings
from hypothesis import strategies as st
from tf_oracle import case_prefix

import bundlefast
from bundlefast._object_graph import (
    OBJECT_GRAPH_KEY,
    ObjectGraph,
    friendly_names_from_graph,
    parse_object_graph,
)
from bundlefast.errors import CorruptionError, TensorNotFoundError

TF2_CASES = ["keras_tf2", "tf2_slots", "savedmodel", "variant", "tf2_sharding_policy"]

# -------------------------------------------------------------------- a tiny proto encoder


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value & 0xFFFFFFFFFFFFFFFF)


def _child(node_id: int, name: str) -> bytes:
    return _len(1, _int(1, node_id) + _len(2, name.encode()))


def _attr(key: str, name: str = "VARIABLE_VALUE", full_name: str = "") -> bytes:
    return _len(2, _len(1, name.encode()) + _len(2, full_name.encode()) + _len(3, key.encode()))


def _slot(original: int, slot_name: str, slot_node: int) -> bytes:
    return _len(3, _int(1, original) + _len(2, slot_name.encode()) + _int(3, slot_node))


def _graph(*nodes: bytes) -> bytes:
    return b"".join(_len(1, n) for n in nodes)


def _escape(name: str) -> str:
    return name.replace(".", "..").replace("/", ".S")


def _write(tmp_path, graph: bytes | None, keys: list[str], name: str = "ck"):
    b = BundleBuilder()
    if graph is not None:
        b.add(OBJECT_GRAPH_KEY, np.array(graph, dtype=object))
    for i, key in enumerate(keys):
        b.add(key, np.arange(i + 1, dtype=np.float32))
    b.write(tmp_path / name)
    return tmp_path / name


# --------------------------------------------------------------------------------------
# Decoding, against TF's protobuf parser
# --------------------------------------------------------------------------------------


def _tf_graph(prefix):
    tf = pytest.importorskip("tensorflow")
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    proto = trackable_object_graph_pb2.TrackableObjectGraph()
    raw = tf.train.load_checkpoint(str(prefix)).get_tensor(OBJECT_GRAPH_KEY)
    proto.ParseFromString(raw)
    return raw, proto


@pytest.mark.tf
@pytest.mark.parametrize("case", TF2_CASES)
def test_decoder_matches_protobuf(case):
    raw, proto = _tf_graph(case_prefix(case))
    graph = parse_object_graph(raw)
    assert len(graph.nodes) == len(proto.nodes)
    for ours, theirs in zip(graph.nodes, proto.nodes):
        children = [(c.node_id, c.local_name) for c in theirs.children]
        assert [(c.node_id, c.local_name) for c in ours.children] == children
        assert [(a.name, a.full_name, a.checkpoint_key) for a in ours.attributes] == [
            (a.name, a.full_name, a.checkpoint_key) for a in theirs.attributes
        ]
        assert [(s.original_variable_node_id, s.slot_name, s.slot_variable_node_id) for s in ours.slot_variables] == [
            (s.original_variable_node_id, s.slot_name, s.slot_variable_node_id) for s in theirs.slot_variables
        ]


@pytest.mark.parametrize("case", TF2_CASES)
def test_breadth_first_paths_rebuild_tf_keys(case):
    """The path found breadth-first, escaped, is exactly what TF put in every key."""
    with bundlefast.open(case_prefix(case)) as r:
        graph = parse_object_graph(r[OBJECT_GRAPH_KEY][()])
        keys = set(r)
    paths = graph.paths()
    slots = {s.slot_variable_node_id: (opt, s) for opt, n in enumerate(graph.nodes) for s in n.slot_variables}
    seen: set[str] = set()
    for node_id, node in enumerate(graph.nodes):
        for attr in node.attributes:
            if node_id in slots:
                opt, s = slots[node_id]
                path = "/".join(map(_escape, paths[s.original_variable_node_id])) + "/.OPTIMIZER_SLOT/"
                path += "/".join(map(_escape, (*paths[opt], s.slot_name)))
            else:
                path = "/".join(map(_escape, paths[node_id]))
            assert attr.checkpoint_key == f"{path}/.ATTRIBUTES/{_escape(attr.name)}"
            owned = {k for k in keys if k.startswith(attr.checkpoint_key)}
            assert owned, attr  # the key itself, or the key plus a suffix (ITERATOR_STATE)
            seen |= owned
    assert seen == keys - {OBJECT_GRAPH_KEY}


# --------------------------------------------------------------------------------------
# Friendly names on TF-written checkpoints
# --------------------------------------------------------------------------------------

SLOTS_NAMES = {
    "net/b": "net/b/.ATTRIBUTES/VARIABLE_VALUE",
    "net/bf": "net/bf/.ATTRIBUTES/VARIABLE_VALUE",
    "net/flag": "net/flag/.ATTRIBUTES/VARIABLE_VALUE",
    "net/step": "net/step/.ATTRIBUTES/VARIABLE_VALUE",
    "net/vocab": "net/vocab/.ATTRIBUTES/VARIABLE_VALUE",
    "net/w": "net/w/.ATTRIBUTES/VARIABLE_VALUE",
    "odd.obj/dotted.name": "odd..obj/dotted..name/.ATTRIBUTES/VARIABLE_VALUE",
    "odd.obj/slash/name": "odd..obj/slash.Sname/.ATTRIBUTES/VARIABLE_VALUE",
    "optimizer/beta1_power": "optimizer/beta1_power/.ATTRIBUTES/VARIABLE_VALUE",
    "optimizer/beta2_power": "optimizer/beta2_power/.ATTRIBUTES/VARIABLE_VALUE",
    "save_counter": "save_counter/.ATTRIBUTES/VARIABLE_VALUE",
}
SLOT_NAMES = {
    f"net/{v}@optimizer/{s}": f"net/{v}/.OPTIMIZER_SLOT/optimizer/{s}/.ATTRIBUTES/VARIABLE_VALUE"
    for v in "wb"
    for s in "mv"
}


def test_friendly_names_tf2_slots():
    with bundlefast.open(case_prefix("tf2_slots")) as r:
        names = r.friendly_names()
        assert names == SLOTS_NAMES and list(names) == sorted(names)
        assert r.friendly_names(include_slots=True) == {**SLOTS_NAMES, **SLOT_NAMES}
        np.testing.assert_array_equal(r[names["net/w"]], r["net/w/.ATTRIBUTES/VARIABLE_VALUE"])


def test_friendly_names_other_attributes_and_savedmodel():
    with bundlefast.open(case_prefix("variant")) as r:
        assert r.friendly_names() == {
            "it/ITERATOR_STATE": "it/.ATTRIBUTES/ITERATOR_STATE",
            "save_counter": "save_counter/.ATTRIBUTES/VARIABLE_VALUE",
        }
    with bundlefast.open(case_prefix("savedmodel")) as r:
        assert r.friendly_names() == {"b": "b/.ATTRIBUTES/VARIABLE_VALUE", "w": "w/.ATTRIBUTES/VARIABLE_VALUE"}


def test_friendly_names_keras3():
    """Keras 3 saves each model weight once, under the first path found: the optimizer's
    ``_trainable_variables/<i>``, as in the raw keys."""
    with bundlefast.open(case_prefix("keras_tf2")) as r:
        names = r.friendly_names(include_slots=True)
        keys = set(r) - {OBJECT_GRAPH_KEY}
    assert set(names.values()) == keys
    assert all(key == f"{name}/.ATTRIBUTES/VARIABLE_VALUE" for name, key in names.items())
    assert "optimizer/_trainable_variables/0" in names and "model/_operations/4/moving_mean" in names


def test_name_based_checkpoint_maps_keys_to_themselves():
    with bundlefast.open(case_prefix("tf1_saver")) as r:
        names = r.friendly_names()
        assert names == {k: k for k in sorted(r)}
    with bundlefast.open(case_prefix("partitioned_tf1")) as r:
        assert not any(k.startswith("\x00") for k in r.friendly_names())  # slice keys hidden


@pytest.mark.tf
def test_friendly_names_of_a_table_and_nested_modules(tmp_path):
    tf = pytest.importorskip("tensorflow")
    table = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, -1)
    table.insert(tf.constant(["a", "b"]), tf.constant([1, 2], tf.int64))
    outer = tf.Module()
    outer.inner = tf.Module()
    outer.inner.v = tf.Variable([1.0, 2.0])
    outer.alias = outer.inner  # a second path to the same object: the first one wins
    path = tf.train.Checkpoint(table=table, outer=outer).write(str(tmp_path / "ck"))
    assert bundlefast.load_friendly(path).keys() == {"outer/inner/v", "table/table-keys", "table/table-values"}
    np.testing.assert_array_equal(bundlefast.load_friendly(path)["outer/inner/v"], [1.0, 2.0])


# --------------------------------------------------------------------------------------
# load_friendly
# --------------------------------------------------------------------------------------


def test_load_friendly():
    prefix = case_prefix("tf2_slots")
    raw = bundlefast.load(prefix)
    friendly = bundlefast.load_friendly(prefix)
    assert friendly.keys() == SLOTS_NAMES.keys()
    for name, key in SLOTS_NAMES.items():
        assert friendly[name].tobytes() == raw[key].tobytes() if raw[key].dtype != object else (
            friendly[name].tolist() == raw[key].tolist()
        )
    assert bundlefast.load_friendly(prefix, include_slots=True).keys() == {**SLOTS_NAMES, **SLOT_NAMES}.keys()
    some = bundlefast.load_friendly(prefix, names=["net/w", "net/w@optimizer/m"], copy=True, verify=True)
    assert list(some) == ["net/w", "net/w@optimizer/m"] and some["net/w"].flags.writeable
    with pytest.raises(TensorNotFoundError, match="not a friendly name") as err:
        bundlefast.load_friendly(prefix, names=["net/w/.ATTRIBUTES/VARIABLE_VALUE"])
    assert isinstance(err.value, KeyError)
    assert bundlefast.load_friendly(prefix, names=[]) == {}
    assert "load_friendly" in bundlefast.__all__


# --------------------------------------------------------------------------------------
# Naming rules on hand-made graphs
# --------------------------------------------------------------------------------------


def test_collisions_fall_back_to_raw_keys():
    k1, k2, k3 = "a.Sb/.ATTRIBUTES/VARIABLE_VALUE", "a/b/.ATTRIBUTES/VARIABLE_VALUE", "c/.ATTRIBUTES/VARIABLE_VALUE"
    graph = parse_object_graph(
        _graph(
            _child(1, "a/b") + _child(2, "a") + _child(4, "c"),
            _attr(k1),
            _child(3, "b"),
            _attr(k2),
            _attr(k3),
        )
    )
    assert friendly_names_from_graph(graph, {k1, k2, k3}) == {k1: k1, k2: k2, "c": k3}


def test_root_attributes_unreachable_nodes_and_missing_keys():
    root_key, lost_key = "/.ATTRIBUTES/VARIABLE_VALUE", "lost/.ATTRIBUTES/VARIABLE_VALUE"
    gone = "x/.ATTRIBUTES/VARIABLE_VALUE"
    graph = parse_object_graph(_graph(_attr(root_key) + _child(2, "x"), _attr(lost_key), _attr(gone)))
    assert friendly_names_from_graph(graph, {root_key, lost_key}) == {root_key: root_key, lost_key: lost_key}


def test_suffixed_keys_belong_to_the_longest_prefix():
    keys = {"t/.ATTRIBUTES/table-keys", "t/.ATTRIBUTES/table-values", "t/.ATTRIBUTES/table-x"}
    keys.add("u/.ATTRIBUTES/VARIABLE_VALUE_1")
    table = _attr("t/.ATTRIBUTES/table", "table") + _attr("t/.ATTRIBUTES/table-x", "table-x")
    graph = parse_object_graph(_graph(_child(1, "t") + _child(2, "u"), table, _attr("u/.ATTRIBUTES/VARIABLE_VALUE")))
    assert friendly_names_from_graph(graph, keys) == {
        "t/table-keys": "t/.ATTRIBUTES/table-keys",
        "t/table-values": "t/.ATTRIBUTES/table-values",
        "t/table-x": "t/.ATTRIBUTES/table-x",
        "u/VARIABLE_VALUE_1": "u/.ATTRIBUTES/VARIABLE_VALUE_1",
    }


def test_slot_naming_and_duplicate_keys():
    var, slot = "v/.ATTRIBUTES/VARIABLE_VALUE", "v/.OPTIMIZER_SLOT/opt/m/.ATTRIBUTES/VARIABLE_VALUE"
    graph = parse_object_graph(
        _graph(_child(1, "v") + _child(2, "opt"), _attr(var) + _attr(var, "OTHER"), _slot(1, "m", 3), _attr(slot))
    )
    assert friendly_names_from_graph(graph, {var, slot}) == {"v": var}
    assert friendly_names_from_graph(graph, {var, slot}, include_slots=True) == {"v": var, "v@opt/m": slot}


def test_empty_graph():
    assert parse_object_graph(b"") == ObjectGraph(())
    assert friendly_names_from_graph(parse_object_graph(b""), {"a"}) == {}


# --------------------------------------------------------------------------------------
# Malformed bytes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x0a", "truncated varint"),
        (b"\x0a\x02\x0a\x03", "claims 3 bytes, only 0 remain"),
        (b"\x0a\x02\x0a\x05", r"nodes\[0\].*claims 5 bytes"),
        (b"\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", "longer than 10 bytes"),
        (b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", "overflows 64 bits"),
        (b"\x00\x00", "invalid field number 0"),
        (b"\x0b", "unsupported wire type 3"),
        (b"\x0e", "unsupported wire type 6"),
        (b"\x09\x00\x00", "truncated fixed64"),
        (_graph(_child(5, "x")), r"nodes\[0\].children\[0\] refers to node 5, but the graph has 1 nodes"),
        (_graph(_child(-1, "x")), "refers to node -1"),
        (_graph(_slot(0, "m", 9)), "slot_variables"),
    ],
)
def test_malformed_graphs(data, message):
    with pytest.raises(CorruptionError, match=message):
        parse_object_graph(data)


def test_unknown_fields_are_skipped():
    extra = _int(15, 7) + b"\x1d\x01\x02\x03\x04" + b"\x19" + bytes(8) + _len(99, b"junk")
    graph = parse_object_graph(
        extra
        + _graph(_child(1, "v") + extra + _len(4, _len(1, b"saver")) + _len(5, _int(1, 1)), _attr("k") + _int(2, 3))
    )
    assert graph.nodes[0].children[0].local_name == "v" and graph.nodes[1].attributes[0].checkpoint_key == "k"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_escapes_as_another_error(data):
    try:
        graph = parse_object_graph(data)
        graph.paths()
    except CorruptionError:
        pass


def test_every_truncation_of_a_real_graph():
    with bundlefast.open(case_prefix("tf2_slots")) as r:
        raw = r[OBJECT_GRAPH_KEY][()]
        keys = set(r)
    for n in range(len(raw)):
        with contextlib.suppress(CorruptionError):
            friendly_names_from_graph(parse_object_graph(raw[:n]), keys)


def test_reader_reports_a_corrupt_graph(tmp_path):
    prefix = _write(tmp_path, b"\x0a\x05\x0a", ["a/.ATTRIBUTES/VARIABLE_VALUE"])
    with bundlefast.open(prefix) as r:
        with pytest.raises(CorruptionError, match=f"{prefix}: {OBJECT_GRAPH_KEY}: .*claims 5 bytes"):
            r.friendly_names()
        np.testing.assert_array_equal(r["a/.ATTRIBUTES/VARIABLE_VALUE"], [0.0])  # raw keys still work
    b = BundleBuilder()
    b.add(OBJECT_GRAPH_KEY, np.float32(1.0))
    b.write(tmp_path / "wrong_type")
    with pytest.raises(CorruptionError, match="not a string scalar"):
        bundlefast.load_friendly(tmp_path / "wrong_type")


def test_hand_made_bundle_with_graph(tmp_path):
    keys = [
        "model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE",
        "model/dense/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE",
    ]
    graph = _graph(
        _child(1, "model") + _child(4, "optimizer"),
        _child(2, "dense"),
        _child(3, "kernel"),
        _attr(keys[0]),
        _slot(3, "m", 5),
        _attr(keys[1]),
    )
    prefix = _write(tmp_path, graph, keys)
    assert bundlefast.load_friendly(prefix, include_slots=True).keys() == {
        "model/dense/kernel",
        "model/dense/kernel@optimizer/m",
    }
