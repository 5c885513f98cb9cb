"""``Reader.aliases()``: every path through the TF2 object graph to each saved tensor,
checked against the object graph TensorFlow builds for the same model, and on hand-made
graphs (shared objects, cycles, a path explosion that must stay bounded)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from restore_support import require
from tf_oracle import case_prefix, make_fixtures

import bundlefast
from bundlefast._object_graph import (
    ObjectGraph,
    ObjectReference,
    SerializedTensor,
    SlotVariableReference,
    TrackableObject,
    aliases_from_graph,
    all_paths,
)


def _node(children=(), attrs=(), slots=()):
    return TrackableObject(
        tuple(ObjectReference(i, n) for i, n in children),
        tuple(SerializedTensor(a, "", k) for a, k in attrs),
        tuple(SlotVariableReference(*s) for s in slots),
    )


def test_keras3_kernel_has_its_model_path():
    """The issue's example: the Keras 3 kernel saved under the optimizer is also the model's."""
    with bundlefast.open(case_prefix("keras_tf2")) as reader:
        aliases = reader.aliases()
        friendly = reader.friendly_names()
    names = aliases["optimizer/_trainable_variables/1/.ATTRIBUTES/VARIABLE_VALUE"]
    assert names[0] == "optimizer/_trainable_variables/1"  # the friendly name comes first
    assert "model/_operations/3/_kernel" in names
    for name, key in friendly.items():
        assert aliases[key][0] == name


def test_tf1_checkpoint_keys_are_their_own_aliases():
    with bundlefast.open(case_prefix("tf1_saver")) as reader:
        assert reader.aliases() == {key: (key,) for key in sorted(reader)}


def test_slots_and_escaped_names():
    with bundlefast.open(case_prefix("tf2_slots")) as reader:
        aliases = reader.aliases()
    assert aliases["net/w/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"] == ("net/w@optimizer/m",)
    assert aliases["odd..obj/dotted..name/.ATTRIBUTES/VARIABLE_VALUE"] == ("odd.obj/dotted.name",)


def _tf_paths_to_variables(tf, root, limit):
    """Every simple path from ``root`` to each tf.Variable through TF's own trackable
    children (what it serializes into the object graph), keyed by the variable's id."""
    out: dict[int, set[str]] = {}
    stack = [(root, (), frozenset([id(root)]))]
    while stack:
        obj, path, on_path = stack.pop()
        if _is_variable(tf, obj):
            out.setdefault(id(obj), set()).add("/".join(path))
            continue
        for name, child in obj._trackable_children(save_type="checkpoint").items():
            if id(child) not in on_path and len(out.get(id(child), ())) < limit:
                stack.append((child, (*path, name), on_path | {id(child)}))
    return out


def _is_variable(tf, obj) -> bool:
    return isinstance(obj, (tf.Variable, tf.keras.Variable))


def _walk(root, path: str):
    obj = root
    for part in path.split("/"):
        obj = obj._trackable_children(save_type="checkpoint")[part]
    return obj


@pytest.mark.tf
def test_aliases_match_the_graph_tf_builds():
    """Rebuild the keras_restore model in TF, restore the checkpoint into it, and check
    that (1) every alias of a key walks TF's object graph to one and the same variable,
    holding the key's value, and (2) every path TF has to a saved variable is listed."""
    tf = require("tensorflow")
    fixtures = make_fixtures()
    model = fixtures.restore_model_class()()
    opt = tf.keras.optimizers.Adam()
    model.compile(optimizer=opt, loss="mse")  # as the fixture did: the model tracks it too
    model(fixtures.restore_model_input())
    opt.build(model.trainable_variables)
    root = tf.train.Checkpoint(model=model, optimizer=opt)
    prefix = case_prefix("keras_restore")
    root.restore(str(prefix)).assert_existing_objects_matched()

    with bundlefast.open(prefix) as reader:
        aliases = reader.aliases()
        tf_paths = _tf_paths_to_variables(tf, root, 256)
        checked = 0
        for key, names in aliases.items():
            targets = [_walk(root, name) for name in names]
            assert all(t is targets[0] for t in targets), key
            assert _is_variable(tf, targets[0])
            assert targets[0].numpy().tobytes() == np.asarray(reader[key]).tobytes(), key
            assert set(names) == tf_paths[id(targets[0])], key
            checked += len(names)
    assert checked > len(aliases)  # some keys do have several names


def test_shared_objects_and_cycles():
    # root -> a -> v ; root -> b -> v ; b -> root (a cycle back); v has one attribute
    graph = ObjectGraph((
        _node(children=[(1, "a"), (2, "b")]),
        _node(children=[(3, "v")]),
        _node(children=[(3, "v"), (0, "up")]),
        _node(attrs=[("VARIABLE_VALUE", "a/v/.ATTRIBUTES/VARIABLE_VALUE"), ("other", "a/v/.ATTRIBUTES/other")]),
    ))
    keys = ["a/v/.ATTRIBUTES/VARIABLE_VALUE", "a/v/.ATTRIBUTES/other"]
    assert aliases_from_graph(graph, keys) == {
        keys[0]: ("a/v", "b/v"),
        keys[1]: ("a/v/other", "b/v/other"),
    }


def test_slot_aliases_combine_variable_and_optimizer_paths():
    graph = ObjectGraph((
        _node(children=[(1, "net"), (2, "opt"), (3, "alias")]),
        _node(children=[(4, "w")]),
        _node(slots=[(4, "m", 5)]),
        _node(children=[(4, "w2")]),
        _node(attrs=[("VARIABLE_VALUE", "net/w/.ATTRIBUTES/VARIABLE_VALUE")]),
        _node(attrs=[("VARIABLE_VALUE", "net/w/.OPTIMIZER_SLOT/opt/m/.ATTRIBUTES/VARIABLE_VALUE")]),
    ))
    keys = ["net/w/.ATTRIBUTES/VARIABLE_VALUE", "net/w/.OPTIMIZER_SLOT/opt/m/.ATTRIBUTES/VARIABLE_VALUE"]
    got = aliases_from_graph(graph, keys)
    assert got[keys[0]] == ("net/w", "alias/w2")
    assert got[keys[1]] == ("net/w@opt/m", "alias/w2@opt/m")


def test_path_explosion_is_bounded():
    """A chain of 40 diamonds has 2**40 paths to its end; listing stops at the limit, fast."""
    nodes = []
    for i in range(40):
        base = 3 * i
        nodes += [_node(children=[(base + 1, "l"), (base + 2, "r")]),
                  _node(children=[(base + 3, "x")]), _node(children=[(base + 3, "x")])]
    nodes.append(_node(attrs=[("VARIABLE_VALUE", "end")]))
    graph = ObjectGraph(tuple(nodes))
    start = time.perf_counter()
    got = aliases_from_graph(graph, ["end"], limit=64)
    assert time.perf_counter() - start < 10
    assert len(got["end"]) == 64
    assert got["end"][0] == "/".join(["l", "x"] * 40)  # the breadth-first (friendly) path
    assert all(len(p) <= 64 for p in all_paths(graph, 64).values())
