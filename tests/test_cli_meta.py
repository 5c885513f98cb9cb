"""``bundlefast ls --meta``: the variables of a TF1 ``P.meta`` graph, through
``bundlefast.meta.read`` (the restore branch). Until that is merged these tests fail with
"cannot read .meta graphs", by design."""

from __future__ import annotations

import json

import pytest
from cli_support import DATA_DIR, run_cli

import bundlefast
from bundlefast.cli import main


def test_ls_meta_lists_the_saved_variables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "--meta", "--json", str(DATA_DIR / "tf1_saver")]) == 0
    doc = json.loads(capsys.readouterr().out)
    with bundlefast.open(DATA_DIR / "tf1_saver") as reader:
        keys = set(reader)
        shapes = {n: list(reader.info(n).shape) for n in reader}
    assert doc["meta"].endswith("model-1.meta")
    assert {v["name"] for v in doc["variables"]} == keys
    for v in doc["variables"]:
        assert v["saved"] is True and v["checkpoint_key"] == v["name"]
        assert v["shape"] == shapes[v["name"]]
    trainable = {v["name"] for v in doc["variables"] if v["trainable"]}
    assert "dense/kernel" in trainable and "global_step" not in trainable


def test_ls_meta_table() -> None:
    result = run_cli("ls", "--meta", DATA_DIR / "tf1_saver")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "dtype", "shape", "trainable", "in", "checkpoint"]
    assert lines[-1].startswith("14 variables, 14 in the checkpoint:")
