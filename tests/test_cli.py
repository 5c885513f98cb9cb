"""The command line as a user meets it: ls, verify, cat, --version, errors and exit codes.

Most tests run ``python -m bundlefast`` in a subprocess and check its exit status, stdout
and stderr; the progress bar is checked on a pseudo-terminal and in a pipe.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_support import DATA_DIR, copy_case, damage_payloads, run_cli

import bundlefast
from bundlefast.cli import main


def test_version_matches_the_package() -> None:
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"bundlefast {bundlefast.__version__}"


def test_ls_lists_every_tensor_with_stored_bytes_and_totals() -> None:
    result = run_cli("ls", DATA_DIR / "strings")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "dtype", "shape", "stored_bytes", "shard"]
    with bundlefast.open(DATA_DIR / "strings") as reader:
        infos = {name: reader.info(name) for name in reader}
    assert len(lines) == 1 + len(infos) + 1
    body = {line.split()[0]: line.split() for line in lines[1:-1]}
    info = infos["utf8"]
    assert body["utf8"][1:] == ["string", "[" + ",".join(map(str, info.shape)) + "]", str(info.size), "0"]
    assert lines[-1].startswith(f"{len(infos)} tensors, {sum(i.size for i in infos.values())} stored bytes")


def test_stored_bytes_of_a_string_tensor_exceed_its_text() -> None:
    """The column is named for what it is: a string tensor stores lengths and a CRC too."""
    result = run_cli("ls", "--json", DATA_DIR / "keras_tf2")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    row = next(t for t in doc["tensors"] if t["name"] == "_CHECKPOINTABLE_OBJECT_GRAPH")
    text = bundlefast.load(DATA_DIR / "keras_tf2", names=[row["name"]])[row["name"]][()]
    assert row["stored_bytes"] > len(text)
    assert "bytes" not in row
    assert doc["totals"]["tensors"] == len(doc["tensors"]) == 27
    assert doc["totals"]["stored_bytes"] == sum(t["stored_bytes"] for t in doc["tensors"])


def test_bare_prefix_is_ls(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(DATA_DIR / "tf1_saver")]) == 0
    bare = capsys.readouterr().out
    assert main(["ls", str(DATA_DIR / "tf1_saver")]) == 0
    assert capsys.readouterr().out == bare
    assert "global_step" in bare


def test_bare_prefix_with_old_verify_flag_lists_then_verifies(tmp_path: Path) -> None:
    """The first release's `bundlefast PREFIX --verify` (the README's command) still works."""
    result = run_cli(DATA_DIR / "keras_tf2", "--verify")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[0] == "name" and lines[-1].startswith("OK: 27 tensors")
    case = copy_case("tf1_saver", tmp_path)
    damage_payloads(case / "model-1", ["global_step"])
    result = run_cli(case, "--verify")
    assert result.returncode == 1
    assert "DAMAGED global_step" in result.stdout
    result = run_cli(case, "--verify", "--json")
    assert result.returncode == 2
    assert f"`bundlefast verify {case}`" in result.stderr


def test_ls_partitioned_tensor_shows_full_shape_and_slices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "--json", str(DATA_DIR / "partitioned_tf1")]) == 0
    rows = {t["name"]: t for t in json.loads(capsys.readouterr().out)["tensors"]}
    assert rows["rows"]["shape"] == [7, 2] and rows["rows"]["slices"] == 3
    assert rows["rows"]["stored_bytes"] == 7 * 2 * 4


def test_ls_tree_groups_by_object_graph(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "--tree", str(DATA_DIR / "tf2_slots")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "net/" in out
    w = out.index(next(line for line in out if line.strip().startswith("w ")))
    # the slot variables of net/w sit one level under it
    assert out[w + 1].strip().startswith("@optimizer/m ") or out[w + 1].strip().startswith("@optimizer/v ")
    assert len(out[w + 1]) - len(out[w + 1].lstrip()) == len(out[w]) - len(out[w].lstrip()) + 2
    assert "(not in the object graph)" in out
    assert any(line.strip().startswith("_CHECKPOINTABLE_OBJECT_GRAPH") for line in out)


def test_ls_tree_json_carries_friendly_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "--tree", "--json", str(DATA_DIR / "tf2_slots")]) == 0
    rows = {t["name"]: t for t in json.loads(capsys.readouterr().out)["tensors"]}
    assert rows["net/w/.ATTRIBUTES/VARIABLE_VALUE"]["friendly"] == "net/w"
    assert rows["_CHECKPOINTABLE_OBJECT_GRAPH"]["friendly"] is None


def test_ls_meta_without_meta_file_says_what_to_type(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ls", "--meta", str(DATA_DIR / "keras_tf2")])
    err = capsys.readouterr().err
    assert code == 2
    assert "bundlefast ls" in err and "bundlefast.load(" not in err


def test_verify_clean_checkpoint_exits_0() -> None:
    result = run_cli("verify", DATA_DIR / "sharded_tf1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: 5 tensors")
    assert result.stderr == ""


def test_verify_lists_every_damaged_tensor_with_file_and_offset(tmp_path: Path) -> None:
    case = copy_case("tf1_saver", tmp_path)
    prefix = case / "model-1"
    bad = ["dense/kernel", "global_step"]
    where = damage_payloads(prefix, bad)
    result = run_cli("verify", "--threads", "2", case)
    assert result.returncode == 1, (result.stdout, result.stderr)
    damaged = [line for line in result.stdout.splitlines() if line.startswith("DAMAGED ")]
    assert [line.split()[1].rstrip(":") for line in damaged] == sorted(bad)
    for line in damaged:
        name = line.split()[1].rstrip(":")
        path, offset = where[name]
        assert Path(path).name in line and str(offset) in line
    assert result.stdout.splitlines()[-1].startswith(f"2 of {len(bundlefast.open(prefix))} tensors damaged")


def test_verify_missing_checkpoint_exits_2() -> None:
    result = run_cli("verify", DATA_DIR / "keras_tf2" / "ckpt-9")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "ckpt-9.index does not exist" in result.stderr
    assert "Traceback" not in result.stderr and "[Errno" not in result.stderr


def test_no_command_is_a_usage_error_and_help_is_not(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: bundlefast" in capsys.readouterr().err
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(command in out for command in ("ls", "verify", "convert", "diff", "cat"))


def test_verify_missing_data_file_exits_2(tmp_path: Path) -> None:
    case = copy_case("sharded_tf1", tmp_path)
    (case / "model.data-00001-of-00003").unlink()
    result = run_cli("verify", case)
    assert result.returncode == 2
    with bundlefast.open(DATA_DIR / "sharded_tf1") as reader:
        in_shard_1 = sorted(n for n in reader if reader.info(n).shard == 1 and not reader.info(n).slices)
    assert [line.split()[1].rstrip(":") for line in result.stdout.splitlines()[:-1]] == in_shard_1
    assert all(line.startswith("MISSING ") and "model.data-00001-of-00003" in line and "[Errno" not in line
               for line in result.stdout.splitlines()[:-1])  # fmt: skip


def test_verify_damaged_index_exits_1(tmp_path: Path) -> None:
    case = copy_case("keras_tf2", tmp_path)
    index = case / "ckpt-1.index"
    index.write_bytes(index.read_bytes()[:500])
    result = run_cli("verify", case)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"bundlefast: {index}: ") and "Traceback" not in result.stderr


def test_usage_error_exits_2() -> None:
    result = run_cli("verify")
    assert result.returncode == 2
    assert "usage: bundlefast verify" in result.stderr


def test_hints_are_commands_not_python_calls(tmp_path: Path) -> None:
    """A directory holding two bundles: the hint names the command to type."""
    for step in ("1", "2"):
        for f in (DATA_DIR / "keras_tf2").glob("ckpt-1.*"):
            shutil.copy(f, tmp_path / f.name.replace("ckpt-1", f"ckpt-{step}"))
    result = run_cli("cat", tmp_path, "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE")
    assert result.returncode == 2
    assert "bundlefast.load(" not in result.stderr
    assert f"`bundlefast cat {tmp_path / 'ckpt-2'} optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE`" in result.stderr


def test_cat_prints_a_tensor() -> None:
    result = run_cli("cat", "--full", DATA_DIR / "partitioned_tf1", "rows")
    assert result.returncode == 0, result.stderr
    header, *body = result.stdout.splitlines()
    assert header == "rows: float32 [7,2]"
    expected = bundlefast.load(DATA_DIR / "partitioned_tf1", names=["rows"])["rows"]
    printed = np.array(eval(" ".join(body)), dtype=np.float32)  # noqa: S307 - our own output
    np.testing.assert_array_equal(printed, expected)


def test_cat_region_matches_numpy_indexing(capsys: pytest.CaptureFixture[str]) -> None:
    prefix = DATA_DIR / "tf1_saver"
    name = "dense/kernel"
    full = bundlefast.load(prefix, names=[name])[name]
    regions = [("0:2, 1:", (slice(0, 2), slice(1, None))), ("-1", (-1,)), ("..., ::2", (Ellipsis, slice(None, None, 2)))]
    for region, key in regions:
        assert main(["cat", "--full", str(prefix), f"{name}[{region}]"]) == 0
        header, *body = capsys.readouterr().out.splitlines()
        assert header.startswith(f"{name}: float32 [{full.shape[0]},{full.shape[1]}] region [")
        np.testing.assert_array_equal(np.array(eval(" ".join(body)), dtype=np.float32), full[key])  # noqa: S307


def test_cat_friendly_name_and_scalar(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cat", str(DATA_DIR / "tf2_slots"), "net/step"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "net/step/.ATTRIBUTES/VARIABLE_VALUE: int64 []"
    assert out[1] in ("3", "np.int64(3)")


def test_cat_unknown_name_lists_close_names() -> None:
    result = run_cli("cat", DATA_DIR / "tf1_saver", "dense/kernal")
    assert result.returncode == 2
    assert "close names: dense/kernel" in result.stderr
    assert "`bundlefast ls " in result.stderr


def test_cat_bad_region_says_the_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cat", str(DATA_DIR / "tf1_saver"), "dense/kernel[a:b]"]) == 2
    assert "NAME[0:5, :3]" in capsys.readouterr().err
    assert main(["cat", str(DATA_DIR / "tf1_saver"), "dense/kernel[99]"]) == 2
    assert "out of bounds" in capsys.readouterr().err


def _run_on_pty(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal; returns (exit status, what the terminal got)."""
    import fcntl  # POSIX only, like the pty module
    import pty
    import select
    import struct
    import termios

    leader, follower = pty.openpty()
    # a terminal 80 columns wide (a fresh pty is 0x0, where tqdm draws nothing)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "bundlefast", *args], stdout=subprocess.DEVNULL,
                            stderr=follower, env={**os.environ, **env})  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_not_in_a_pipe(tmp_path: Path) -> None:
    __import__("tqdm")  # the `progress` extra: a test dependency, so fail (not skip) without it
    prefix = DATA_DIR / "many_keys"
    env = {"BUNDLEFAST_PROGRESS_DELAY": "0"}
    code, terminal = _run_on_pty(["verify", str(prefix)], env)
    assert code == 0
    assert "verify" in terminal and "%|" in terminal  # tqdm's bar: "verify: 100%|####| ..."
    piped = run_cli("verify", prefix, env=env)
    assert piped.returncode == 0
    assert piped.stderr == ""
    code, terminal = _run_on_pty(["verify", "--no-progress", str(prefix)], env)
    assert code == 0 and "%|" not in terminal


@pytest.mark.parametrize("case", ["partitioned_tf1", "strings", "odd_names", "all_dtypes", "sharded_tf1"])
def test_ls_columns_match_reader_info(case: str) -> None:
    """`ls` lists through one core call (_core.list_entries); every column agrees with
    Reader.info, tensor by tensor, partitioned tensors (no shard) included."""
    from bundlefast.cli.ls import listing, stored_bytes

    columns = listing(str(DATA_DIR / case), ["ls", str(DATA_DIR / case)])
    with bundlefast.open(DATA_DIR / case) as reader:
        assert columns["names"] == list(reader)
        assert columns["num_shards"] == reader.num_shards
        assert columns["prefix"] == str(reader.prefix)
        infos = [reader.info(name) for name in reader]
    assert columns["dtypes"] == [i.dtype_enum for i in infos]
    assert columns["shapes"] == [i.shape for i in infos]
    assert columns["stored_bytes"] == [stored_bytes(i) for i in infos]
    assert columns["shards"] == [-1 if i.slices else i.shard for i in infos]
    assert columns["slices"] == [len(i.slices) for i in infos]
    if case == "partitioned_tf1":
        assert any(columns["slices"]) and -1 in columns["shards"]
        itemsize = {i.name: i.dtype.itemsize for i in infos if i.slices}
        assert all(columns["stored_bytes"][k] == int(np.prod(infos[k].shape)) * itemsize[infos[k].name]
                   for k in range(len(infos)) if infos[k].slices)  # fmt: skip


def test_ls_imports_neither_numpy_nor_the_converters() -> None:
    """CLI start-up is part of `ls`'s time (issue 12: <= 1/10 of inspect_checkpoint):
    listing a checkpoint needs the index and the table, not NumPy (~0.1-0.2 s to import)
    or the convert package."""
    code = ("import sys; from bundlefast.cli import main; "
            f"code = main(['ls', {str(DATA_DIR / 'keras_tf2')!r}]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'numpy' or m.startswith('bundlefast.convert')))")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=os.environ)
    assert result.returncode == 0, result.stderr
    assert "_CHECKPOINTABLE_OBJECT_GRAPH" in result.stdout
    assert result.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize("case", ["partitioned_tf1", "sharded_tf1"])
def test_ls_of_a_url_prints_what_ls_of_the_files_prints(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A URL is listed through the Reader (no core listing over fsspec): same table."""
    import uuid

    import fsspec  # not importorskip: CI installs the remote extra

    fs = fsspec.filesystem("memory")
    root = f"/bf-cli-{uuid.uuid4().hex}"
    for path in sorted((DATA_DIR / case).rglob("*")):
        if path.is_file():
            fs.pipe_file(f"{root}/{path.relative_to(DATA_DIR / case).as_posix()}", path.read_bytes())
    try:
        assert main(["ls", str(DATA_DIR / case)]) == 0
        local = capsys.readouterr().out.splitlines()
        assert main(["ls", f"memory://{root}"]) == 0
        remote = capsys.readouterr().out.splitlines()
    finally:
        fs.rm(root, recursive=True)
    assert remote[:-1] == local[:-1] and len(local) > 3
    assert remote[-1].split(":")[0] == local[-1].split(":")[0]  # the totals; the prefixes differ
