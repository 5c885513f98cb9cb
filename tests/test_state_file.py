"""The ``checkpoint`` state file, written: text TF parses to the same state, atomic
replacement, and ``update_checkpoint_state``'s keep-last-N cleanup (as
``tf.train.CheckpointManager(max_to_keep=...)``)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import bundlefast
import tensorflow as tf
from bundlefast._state_file import (
    CheckpointState,
    format_checkpoint_state,
    parse_checkpoint_state,
    write_state_file,
)

pytestmark = pytest.mark.tf  # TF parses, writes and manages the same state files


def _tf_parse(text: str):
    from google.protobuf import text_format
    from tensorflow.python.checkpoint import checkpoint_management

    state = checkpoint_management.CheckpointState()
    text_format.Merge(text, state)
    return state


@pytest.mark.parametrize(
    "paths",
    [["ckpt-1", "ckpt-2"], ["a \"quoted\" 'name'", "back\\slash", "tab\tnew\nline"], ["ключ/名前-3", "\x01\x7f"]],
)
def test_format_parses_back_in_tf_and_here(paths):
    state = CheckpointState(paths[-1], paths, [1795639009.4107747, 1.5e-300][: len(paths)] + [0.0] * (len(paths) - 2),
                            1795639008.3760657)
    text = format_checkpoint_state(state)
    assert parse_checkpoint_state(text) == state
    theirs = _tf_parse(text)
    assert theirs.model_checkpoint_path == state.model_checkpoint_path
    assert list(theirs.all_model_checkpoint_paths) == state.all_model_checkpoint_paths
    assert list(theirs.all_model_checkpoint_timestamps) == state.all_model_checkpoint_timestamps
    assert theirs.last_preserved_timestamp == state.last_preserved_timestamp


def test_format_matches_tf_update_checkpoint_state(tmp_path):
    """Same paths and timestamps: the same file text as TF's own writer."""
    from tensorflow.python.checkpoint import checkpoint_management

    paths = [str(tmp_path / "ckpt-1"), str(tmp_path / "ckpt-2")]
    checkpoint_management.update_checkpoint_state_internal(
        str(tmp_path), paths[-1], paths, save_relative_paths=True,
        all_model_checkpoint_timestamps=[1.25, 2.5], last_preserved_timestamp=0.75,
    )
    state = CheckpointState("ckpt-2", ["ckpt-1", "ckpt-2"], [1.25, 2.5], 0.75)
    assert (tmp_path / "checkpoint").read_text() == format_checkpoint_state(state)


def test_write_is_atomic_and_leaves_no_temp_file(tmp_path):
    write_state_file(tmp_path, CheckpointState("a", ["a"]))
    write_state_file(tmp_path, CheckpointState("b", ["a", "b"]))
    assert sorted(os.listdir(tmp_path)) == ["checkpoint"]
    assert parse_checkpoint_state((tmp_path / "checkpoint").read_text()).model_checkpoint_path == "b"


def _save_steps(directory, steps, **kwargs):
    for step in steps:
        prefix = bundlefast.save(directory / f"ckpt-{step}", {"step": np.int64(step)})
        bundlefast.update_checkpoint_state(directory, prefix, **kwargs)


def test_keep_last_n_like_checkpoint_manager(tmp_path):
    _save_steps(tmp_path, range(1, 6), max_to_keep=2)
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["checkpoint", "ckpt-4.index", "ckpt-4.data-00000-of-00001", "ckpt-5.index", "ckpt-5.data-00000-of-00001"]
    )
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert state.model_checkpoint_path == str(tmp_path / "ckpt-5")
    assert list(state.all_model_checkpoint_paths) == [str(tmp_path / "ckpt-4"), str(tmp_path / "ckpt-5")]
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt-5")
    assert bundlefast.latest_checkpoint(tmp_path) == str(tmp_path / "ckpt-5")
    # TF's CheckpointManager picks up where we left off
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(), str(tmp_path), max_to_keep=2)
    assert manager.checkpoints == [str(tmp_path / "ckpt-4"), str(tmp_path / "ckpt-5")]
    assert bundlefast.load(tf.train.latest_checkpoint(str(tmp_path)))["step"] == 5


def test_timestamps_are_kept_and_all_prefixes_respected(tmp_path):
    _save_steps(tmp_path, [1, 2])
    first = bundlefast.get_checkpoint_state(tmp_path)
    _save_steps(tmp_path, [3], all_prefixes=["ckpt-1", tmp_path / "ckpt-3"])
    state = parse_checkpoint_state((tmp_path / "checkpoint").read_text())
    assert state.all_model_checkpoint_paths == ["ckpt-1", "ckpt-3"]
    assert state.all_model_checkpoint_timestamps[0] == first.all_model_checkpoint_timestamps[0]
    assert (tmp_path / "ckpt-2.index").exists()  # no max_to_keep: nothing deleted


def test_prefix_outside_the_directory_is_written_absolute(tmp_path):
    other = tmp_path / "elsewhere"
    prefix = bundlefast.save(other / "model", {"x": np.ones(1)})
    (tmp_path / "dir").mkdir()
    state = bundlefast.update_checkpoint_state(tmp_path / "dir", prefix)
    assert state.model_checkpoint_path == str(other / "model")
    assert tf.train.latest_checkpoint(str(tmp_path / "dir")) == str(other / "model")


def test_refuses_missing_prefix_and_bad_max_to_keep(tmp_path):
    with pytest.raises(bundlefast.InvalidArgumentError, match="does not exist"):
        bundlefast.update_checkpoint_state(tmp_path, tmp_path / "nothing")
    _save_steps(tmp_path, [1])
    with pytest.raises(bundlefast.InvalidArgumentError, match="max_to_keep"):
        bundlefast.update_checkpoint_state(tmp_path, tmp_path / "ckpt-1", max_to_keep=0)
