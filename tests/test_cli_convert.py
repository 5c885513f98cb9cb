"""``bundlefast convert`` to and from .safetensors, .npz and .pt, checked by the libraries
that own those formats (safetensors, NumPy, torch) and read back through our sources.

Conversions to a TF bundle need ``bundlefast.Writer``: tests/test_cli_convert_bundle.py.
"""

from __future__ import annotations

import json
import re
import sys
import tracemalloc
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from cli_support import DATA_DIR, case_names, copy_case, damage_payloads, flip_byte, many_tensors, run_cli

import bundlefast
from bundlefast.cli import main
from bundlefast.convert import convert, open_source, read_rename_map
from bundlefast.errors import ChecksumError, InvalidArgumentError

# What each format can hold, written out here independently of the converters.
SAFETENSORS_TYPES = {"bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float16",
                     "float32", "float64", "bfloat16", "complex64", "float8_e4m3fn", "float8_e5m2",
                     "float8_e4m3fnuz", "float8_e5m2fnuz"}  # fmt: skip
PT_TYPES = (SAFETENSORS_TYPES - {"float8_e4m3fnuz", "float8_e5m2fnuz"}) | {"complex128", "float8_e4m3fnuz", "float8_e5m2fnuz"}
NPZ_TYPES = {"bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float16", "float32",
             "float64", "complex64", "complex128"}  # fmt: skip
HOLDS = {"safetensors": SAFETENSORS_TYPES, "npz": NPZ_TYPES, "pt": PT_TYPES}
EXT = {"safetensors": ".safetensors", "npz": ".npz", "pt": ".pt"}


def _expected(case: str) -> dict[str, np.ndarray]:
    """Every tensor of a fixture (partitioned ones assembled), as bundlefast reads it."""
    return bundlefast.load(DATA_DIR / case)


def _holdable(arrays: dict[str, np.ndarray], fmt: str) -> dict[str, np.ndarray]:
    """The tensors ``fmt`` can hold: its dtypes, and (npz) names that can be zip member names."""
    return {n: a for n, a in arrays.items()
            if a.dtype.kind != "O" and a.dtype.name in HOLDS[fmt] and not (fmt == "npz" and "\0" in n)}  # fmt: skip


def _same_bits(actual: np.ndarray, expected: np.ndarray, name: str) -> None:
    assert actual.dtype == expected.dtype, (name, actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (name, actual.shape, expected.shape)
    assert np.ascontiguousarray(actual).tobytes() == np.ascontiguousarray(expected).tobytes(), name


def _read_with_owner(path: Path, fmt: str) -> dict[str, np.ndarray]:
    """The file read by the library that owns its format (not by bundlefast)."""
    if fmt == "npz":
        with np.load(path, allow_pickle=False) as npz:
            return {n: npz[n] for n in npz.files}
    import torch  # a test dependency: the test fails, not skips, without it
    if fmt == "pt":
        state = torch.load(path, weights_only=True)
    else:
        from safetensors.torch import load_file

        state = load_file(path)
    out = {}
    for name, t in state.items():
        dtype = str(t.dtype).removeprefix("torch.")
        # np.dtype(name), not getattr(np, name): np.bool is a deprecated alias in NumPy 1.x.
        target = np.dtype(getattr(ml_dtypes, dtype) if hasattr(ml_dtypes, dtype) else dtype)
        flat = t.reshape(-1)  # 1-D, so that a view may change the element size
        if t.element_size() == 16:  # complex128: two float64 per element
            raw = flat.view(torch.float64).numpy().view(target)
        else:
            bits = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
            raw = flat.view(bits).numpy().view(target)
        out[name] = raw.reshape(tuple(t.shape))
    return out


@pytest.mark.parametrize("fmt", ["safetensors", "npz", "pt"])
@pytest.mark.parametrize("case", case_names())
def test_every_fixture_to_each_format_and_back(case: str, fmt: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    expected = _expected(case)
    holdable = _holdable(expected, fmt)
    out = tmp_path / f"out{EXT[fmt]}"
    assert main(["convert", str(DATA_DIR / case), str(out)]) == 0
    stdout, stderr = capsys.readouterr()
    assert stdout.startswith(f"wrote {len(holdable)} tensors")
    for name in expected.keys() - holdable.keys():  # strings, variants, types the format lacks
        assert f"skipped {name!r}" in stderr
    written = _read_with_owner(out, fmt)
    assert written.keys() == holdable.keys()
    for name, array in holdable.items():
        _same_bits(written[name], array, name)
    # and back through bundlefast's reader of that format
    with open_source(out) as source:
        assert {t.name for t in source.tensors()} == holdable.keys()
        for meta in source.tensors():
            assert meta.dtype == holdable[meta.name].dtype and meta.shape == holdable[meta.name].shape
            _same_bits(source.read(meta.name), holdable[meta.name], meta.name)


def test_safetensors_numpy_reads_what_we_write(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    out = tmp_path / "k.safetensors"
    convert(DATA_DIR / "keras_tf2", out)
    expected = _holdable(_expected("keras_tf2"), "safetensors")
    loaded = load_file(out)
    assert loaded.keys() == expected.keys()
    for name, array in expected.items():
        _same_bits(loaded[name], array, name)


def test_formats_convert_into_each_other(tmp_path: Path) -> None:
    """safetensors -> pt -> npz -> safetensors keeps every value (tf2_slots without bfloat16 for npz)."""
    a, b, c, d = (tmp_path / n for n in ("a.safetensors", "b.pt", "c.npz", "d.safetensors"))
    convert(DATA_DIR / "tf1_saver", a)
    convert(a, b)
    convert(b, c)
    convert(c, d)
    expected = _holdable(_expected("tf1_saver"), "npz")
    with open_source(d) as source:
        assert {t.name for t in source.tensors()} == expected.keys()
        for name, array in expected.items():
            _same_bits(source.read(name), array, name)


def test_partitioned_variables_come_out_assembled(tmp_path: Path) -> None:
    out = tmp_path / "p.npz"
    convert(DATA_DIR / "tf2_sharding_policy", out)
    expected = _expected("tf2_sharding_policy")
    with np.load(out) as npz:
        for name, array in expected.items():
            if array.dtype.kind != "O":
                _same_bits(npz[name], array, name)
    with bundlefast.open(DATA_DIR / "tf2_sharding_policy") as reader:
        assert any(reader.info(n).slices for n in reader)


def test_select_rename_and_friendly_names(tmp_path: Path) -> None:
    names = tmp_path / "names.txt"
    names.write_text("# target source\nembedding model/embed\n\nhead/kernel  model/head/kernel\n")
    out = tmp_path / "sel.npz"
    with bundlefast.open(DATA_DIR / "tf2_slots") as reader:
        friendly = reader.friendly_names(include_slots=True)
    report = convert(DATA_DIR / "tf2_slots", out, select=r"^net/", friendly=True,
                     rename={"weights": "net/w", "weights_again": "net/w"})  # fmt: skip
    with np.load(out) as npz:
        files = set(npz.files)
        w = npz["weights"]
    assert "weights" in files and "weights_again" in files and "net/w" not in files
    assert all(n.startswith("net/") or n.startswith("weights") for n in files)
    assert "net/w@optimizer/m" in files  # slots keep their friendly names
    _same_bits(w, bundlefast.load(DATA_DIR / "tf2_slots", names=[friendly["net/w"]])[friendly["net/w"]], "w")
    assert {s.name for s in report.written} == files
    assert ("net/bf", ".npz holds NumPy's own dtypes only, not bfloat16") in report.skipped


def test_rename_map_file_from_the_command_line(tmp_path: Path) -> None:
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"layer one/kernel": "dense/kernel"}))
    out = tmp_path / "r.safetensors"
    assert main(["convert", "--rename", str(mapping), "--select", "^dense/kernel$", str(DATA_DIR / "tf1_saver"), str(out)]) == 0
    from safetensors.numpy import load_file

    loaded = load_file(out)
    assert list(loaded) == ["layer one/kernel"]
    _same_bits(loaded["layer one/kernel"], _expected("tf1_saver")["dense/kernel"], "kernel")


def test_rename_map_naming_a_missing_tensor_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mapping = tmp_path / "map.txt"
    mapping.write_text("a dense/kernel\nb no/such/tensor\n")
    out = tmp_path / "r.npz"
    assert main(["convert", "--rename", str(mapping), str(DATA_DIR / "tf1_saver"), str(out)]) == 2
    assert "'no/such/tensor'" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".r.npz*"))


def test_dtype_casts_float32_to_bfloat16_and_back(tmp_path: Path) -> None:
    half, full = tmp_path / "half.safetensors", tmp_path / "full.npz"
    assert main(["convert", "--dtype", "float32:bfloat16", str(DATA_DIR / "tf1_saver"), str(half)]) == 0
    assert main(["convert", "--dtype", "bfloat16:float32", str(half), str(full)]) == 0
    expected = _expected("tf1_saver")
    with open_source(half) as source:
        halves = {t.name: t.dtype for t in source.tensors()}
    with np.load(full) as npz:
        for name, array in expected.items():
            if array.dtype == np.float32:
                assert halves[name] == ml_dtypes.bfloat16
                _same_bits(npz[name], array.astype(ml_dtypes.bfloat16).astype(np.float32), name)
            elif array.dtype.kind != "O":
                assert halves[name] == array.dtype
                _same_bits(npz[name], array, name)


def test_bad_dtype_cast_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", "--dtype", "float32:int8", str(DATA_DIR / "tf1_saver"), str(tmp_path / "x.npz")]) == 2
    assert "--dtype float32:int8" in capsys.readouterr().err


def test_strict_refuses_before_writing(tmp_path: Path) -> None:
    out = tmp_path / "s.safetensors"
    result = run_cli("convert", "--strict", DATA_DIR / "keras_tf2", out)
    assert result.returncode == 2
    assert "_CHECKPOINTABLE_OBJECT_GRAPH" in result.stderr and "safetensors has no string type" in result.stderr
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_skips_are_reported_on_stderr_and_exit_0(tmp_path: Path) -> None:
    out = tmp_path / "k.npz"
    result = run_cli("convert", DATA_DIR / "keras_tf2", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote 26 tensors")
    assert "skipped '_CHECKPOINTABLE_OBJECT_GRAPH': .npz holds NumPy's own dtypes only, not string" in result.stderr
    assert "--strict" in result.stderr


def test_existing_destination_needs_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "k.npz"
    out.write_bytes(b"keep me")
    assert main(["convert", str(DATA_DIR / "keras_tf2"), str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert main(["convert", "--force", str(DATA_DIR / "keras_tf2"), str(out)]) == 0
    assert np.load(out)["optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"] == 1


def test_missing_source_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(tmp_path / "nope.safetensors"), str(tmp_path / "x.npz")]) == 2
    assert "nope.safetensors does not exist" in capsys.readouterr().err


def test_missing_extra_names_the_pip_extra(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked" / "safetensors"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('safetensors blocked for this test')\n")
    path = f"{blocker.parent}:{':'.join(sys.path)}"
    result = run_cli("convert", DATA_DIR / "tf1_saver", tmp_path / "x.safetensors", env={"PYTHONPATH": path})
    assert result.returncode == 2
    assert "pip install 'bundlefast[safetensors]'" in result.stderr
    assert "Traceback" not in result.stderr
    # npz needs nothing beyond NumPy, and no command imports an extra it does not use
    result = run_cli("convert", DATA_DIR / "tf1_saver", tmp_path / "x.npz", env={"PYTHONPATH": path})
    assert result.returncode == 0, result.stderr


def test_rename_map_formats(tmp_path: Path) -> None:
    text = tmp_path / "m.txt"
    text.write_text("# comment\n\n  new/a   old/a  \nnew/b old/b\n")
    assert read_rename_map(text) == {"new/a": "old/a", "new/b": "old/b"}
    js = tmp_path / "m.json"
    js.write_text('{"with space": "old/a", "x": "old/b"}')
    assert read_rename_map(js) == {"with space": "old/a", "x": "old/b"}
    bad = tmp_path / "bad.txt"
    bad.write_text("ok old\none two three\n")
    with pytest.raises(InvalidArgumentError, match=r"bad\.txt:2: expected 'TARGET SOURCE'"):
        read_rename_map(bad)
    twice = tmp_path / "twice.txt"
    twice.write_text("a x\na y\n")
    with pytest.raises(InvalidArgumentError, match=r"twice\.txt:2: 'a' is given twice"):
        read_rename_map(twice)
    not_str = tmp_path / "n.json"
    not_str.write_text('{"a": 1}')
    with pytest.raises(InvalidArgumentError, match="expected a tensor name"):
        read_rename_map(not_str)


@pytest.mark.parametrize("fmt", ["npz", "safetensors", "pt"])
def test_peak_memory_is_one_tensor_not_the_checkpoint(tmp_path: Path, fmt: str) -> None:
    """With a cast (so every tensor is a fresh array), NumPy's peak allocation stays near
    one tensor: 12 tensors of 1 MiB become 2 MiB each (24 MiB in all)."""
    prefix = many_tensors(tmp_path, 12, 1 << 20)
    out = tmp_path / f"out{EXT[fmt]}"
    __import__({"npz": "zipfile", "safetensors": "safetensors.numpy", "pt": "torch"}[fmt])  # not the import's memory
    tracemalloc.start()
    try:
        convert(prefix, out, dtypes={"float32": "float64"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * (2 << 20) + (1 << 20), peak  # two casts' worth at most, not 24 MiB
    with open_source(out) as source:
        assert len(source.tensors()) == 12
        first = source.read("t00")
    np.testing.assert_array_equal(first, bundlefast.load(prefix, names=["t00"])["t00"].astype(np.float64))


def _leftovers(directory: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


@pytest.mark.parametrize("fmt", ["safetensors", "npz", "pt", "bundle"])
def test_a_damaged_source_tensor_stops_the_conversion(tmp_path: Path, fmt: str) -> None:
    """The source's CRCs are verified (the views on a thread beside the writer): one bad
    byte in the last tensor written fails the conversion, and no destination is left."""
    case = copy_case("tf1_saver", tmp_path)
    with bundlefast.open(case / "model-1") as reader:
        last = list(reader)[-1]
    damage_payloads(case / "model-1", [last])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / ("ckpt" if fmt == "bundle" else f"model{EXT[fmt]}")
    with pytest.raises(ChecksumError, match=last):
        convert(case / "model-1", out, to=fmt)
    assert _leftovers(out_dir, set()) == []
    result = run_cli("convert", case / "model-1", out, "--to", fmt)
    assert result.returncode == 1, result.stderr
    assert "crc32c mismatch" in result.stderr and repr(last) in result.stderr and "Traceback" not in result.stderr
    assert _leftovers(out_dir, set()) == []


def test_a_damaged_slice_of_a_partitioned_tensor_stops_the_conversion(tmp_path: Path) -> None:
    """Assembled partitioned tensors are verified by the copy that assembles them."""
    import bundle_surgery

    case = copy_case("partitioned_tf1", tmp_path)
    index = (case / "model.index").read_bytes()
    slice_entries = [(key, bundle_surgery.entry_payload(value)) for key, value in bundle_surgery.index_entries(index)
                     if key != b"ids" and b"ids" in key]  # fmt: skip
    assert slice_entries
    payload = slice_entries[0][1]
    flip_byte(case / "model.data-00000-of-00001", payload.offset)
    with pytest.raises(ChecksumError):
        convert(case / "model", tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()
    report = convert(case / "model", tmp_path / "m.safetensors", select="^(rows|cols|plain)")
    assert len(report.written) == 9


def test_pt_with_a_torch_older_than_2_3_skips_the_unsigned_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """The torch extra allows torch 2.1, which has no uint16/32/64: a .pt conversion
    skips those with a reason naming the torch that has them, and writes the rest."""
    import torch  # a test dependency: the test fails, not skips, without it

    from bundlefast.convert import pt

    class Torch21:
        """torch as the converter sees it, without what torch 2.3 added (torch.save
        itself still needs those names, so the real module cannot lose them)."""

        __version__ = "2.1.2"

        def __getattr__(self, name: str) -> object:
            if name in ("uint16", "uint32", "uint64"):
                raise AttributeError(name)
            return getattr(torch, name)

    monkeypatch.setattr(pt, "_torch", lambda purpose: Torch21())
    out = tmp_path / "old.pt"
    select = "^(scalar/)?(uint|float32)"
    assert main(["convert", str(DATA_DIR / "all_dtypes"), str(out), "--select", select]) == 0
    stderr = capsys.readouterr().err
    unsigned = [n for n in _expected("all_dtypes") if n.removeprefix("scalar/").split("/")[0] in ("uint16", "uint32", "uint64")]
    assert len(unsigned) == 9
    for name in unsigned:
        width = name.removeprefix("scalar/").split("/")[0]
        assert f"skipped {name!r}: torch 2.1.2 has no {width} type (torch>=2.3 has)" in stderr
    expected = {n: a for n, a in _expected("all_dtypes").items()
                if re.search(select, n) and a.dtype.name in PT_TYPES - {"uint16", "uint32", "uint64"}}  # fmt: skip
    assert {"uint8/extremes", "scalar/float32"} <= expected.keys()
    written = _read_with_owner(out, "pt")
    assert written.keys() == expected.keys()
    for name, array in expected.items():
        _same_bits(written[name], array, name)


def test_a_url_source_is_verified_tensor_by_tensor(tmp_path: Path) -> None:
    """A remote bundle has no background check: each fetched tensor is verified on read."""
    import uuid

    import fsspec  # not importorskip: CI installs the remote extra

    case = copy_case("tf1_saver", tmp_path)
    fs = fsspec.filesystem("memory")
    root = f"/bf-convert-{uuid.uuid4().hex}"
    try:
        for path in sorted(case.rglob("*")):
            if path.is_file():
                fs.pipe_file(f"{root}/{path.relative_to(case).as_posix()}", path.read_bytes())
        good = convert(f"memory://{root}/model-1", tmp_path / "good.safetensors")
        assert len(good.written) == len(bundlefast.open(case / "model-1"))
        damage_payloads(case / "model-1", ["global_step"])
        data = next(case.glob("model-1.data-*"))
        fs.pipe_file(f"{root}/{data.name}", data.read_bytes())
        with pytest.raises(ChecksumError, match="global_step"):
            convert(f"memory://{root}/model-1", tmp_path / "bad.safetensors")
        assert not (tmp_path / "bad.safetensors").exists()
    finally:
        fs.rm(root, recursive=True)
