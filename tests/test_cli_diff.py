"""``bundlefast diff A B``: nothing for a checkpoint and itself, the changes between two
training steps, dtype/shape changes, tolerances, and exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_support import DATA_DIR, case_names, run_cli

import bundlefast
from bundlefast.cli import main
from bundlefast.cli.diff import compare_values

STEP1, STEP2 = DATA_DIR / "keras_tf2", DATA_DIR / "keras_tf2_step2"


@pytest.mark.parametrize("case", case_names())
def test_a_checkpoint_equals_itself(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(DATA_DIR / case), str(DATA_DIR / case)]) == 0
    out = capsys.readouterr().out
    assert out == f"no differences: {len(bundlefast.open(DATA_DIR / case))} tensors equal\n"


def test_two_training_steps_differ() -> None:
    result = run_cli("diff", STEP1, STEP2)
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    a, b = bundlefast.load(STEP1), bundlefast.load(STEP2)
    changed = sorted(n for n in a.keys() & b.keys() if a[n].tobytes() != b[n].tobytes() if a[n].dtype.kind != "O")
    graph = "_CHECKPOINTABLE_OBJECT_GRAPH"
    changed += [graph] if a[graph][()] != b[graph][()] else []
    assert {line.split()[1] for line in lines if line.startswith("~ ")} == set(changed)
    assert [line.split()[1] for line in lines if line.startswith("- ")] == sorted(a.keys() - b.keys())
    assert not [line for line in lines if line.startswith("+ ")]
    it = next(line for line in lines if line.startswith("~ optimizer/_iterations/"))
    assert "1 of 1 elements differ, max abs 1, max rel 0.5" in it  # step 1 -> 2
    assert lines[-1].startswith(f"A and B differ: {len(a.keys() - b.keys())} removed, 0 added, {len(changed)} changed")


def test_max_differences_are_right(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "--json", str(STEP1), str(STEP2)]) == 1
    doc = json.loads(capsys.readouterr().out)
    a, b = bundlefast.load(STEP1), bundlefast.load(STEP2)
    for change in doc["changed"]:
        x, y = a[change["name"]], b[change["name"]]
        if x.dtype.kind == "f":
            gap = np.abs(x.astype(np.float64) - y.astype(np.float64))
            assert change["max_abs"] == pytest.approx(gap.max())
            assert change["differing"] == int(np.count_nonzero(gap))
            nz = y != 0
            assert change["max_rel"] == pytest.approx((gap[nz] / np.abs(y[nz].astype(np.float64))).max())
    assert doc["differ"] is True


def test_tolerances(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "--json", "--atol", "1e9", str(STEP1), str(STEP2)]) == 1  # save_counter is still removed
    doc = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in doc["changed"]] == ["_CHECKPOINTABLE_OBJECT_GRAPH"]  # strings: no tolerance
    x = np.array([1.0, 2.0, np.nan, np.inf], np.float32)
    y = np.array([1.0, 2.2, np.nan, np.inf], np.float32)
    assert compare_values("x", x, y, 0.0, 0.0).differing == 1
    assert compare_values("x", x, y, 0.0, 0.1) is None  # |0.2| <= 0.1 * 2.2
    assert compare_values("x", x, y, 0.0, 0.05).differing == 1
    assert compare_values("x", x, np.array([1.0, 2.0, 0.0, np.inf], np.float32), 1.0, 1.0).differing == 1  # NaN vs 0


def test_dtype_shape_added_removed(tmp_path: Path) -> None:
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    np.savez(a, same=np.arange(3), dtype=np.zeros(2, np.float32), shape=np.zeros(2), gone=np.ones(1))
    np.savez(b, same=np.arange(3), dtype=np.zeros(2, np.float64), shape=np.zeros(3), new=np.ones(1))
    result = run_cli("diff", a, b)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "- gone  float64 [1]  (only in A)",
        "+ new  float64 [1]  (only in B)",
        "~ dtype  dtype float32 -> float64",
        "~ shape  shape [2] -> [3]",
        "A and B differ: 1 removed, 1 added, 2 changed, 1 equal",
    ]


def test_diff_across_formats(tmp_path: Path) -> None:
    from bundlefast.convert import convert

    out = tmp_path / "k.safetensors"
    convert(STEP1, out)
    result = run_cli("diff", STEP1, out)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == "- _CHECKPOINTABLE_OBJECT_GRAPH  string []  (only in A)"
    assert result.stdout.splitlines()[-1] == "A and B differ: 1 removed, 0 added, 0 changed, 26 equal"


def test_diff_missing_side_exits_2() -> None:
    result = run_cli("diff", STEP1, DATA_DIR / "nowhere")
    assert result.returncode == 2
    assert "nowhere" in result.stderr and result.stdout == ""
