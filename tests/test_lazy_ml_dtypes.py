"""ml_dtypes is imported only when a tensor or a dtype query needs one of its types
(issue 8, item 2): importing it takes about a second, most of a new process's time to
its first tensor. Each check runs in a fresh interpreter, where ``sys.modules`` tells."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import tf_oracle


def _imports_ml_dtypes(body: str) -> bool:
    code = "import sys\nimport bundlefast\n" + textwrap.dedent(body) + "\nprint('ml_dtypes' in sys.modules)\n"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    return {"True": True, "False": False}[out.stdout.strip().splitlines()[-1]]


def test_importing_bundlefast_does_not_import_ml_dtypes():
    assert not _imports_ml_dtypes("")


@pytest.mark.parametrize("case", ["sharded_tf1", "strings"])
def test_reading_a_checkpoint_without_its_types_does_not_import_it(case):
    """float32, float64, int64 and string tensors, every way they are read and listed."""
    prefix = str(tf_oracle.case_prefix(case))
    assert not _imports_ml_dtypes(f"""
        out = bundlefast.load({prefix!r}, verify=True)
        out = bundlefast.load({prefix!r}, copy=True, mmap=False)
        with bundlefast.open({prefix!r}) as r:
            infos = [r.info(n) for n in r]
            r.verify()
        reader = bundlefast.load_checkpoint({prefix!r})
        dtypes = reader.get_variable_to_dtype_map()
        assert all(d != "bfloat16" for d in dtypes.values())
        assert len(out) == len(infos) > 0
    """)


def test_unneeded_types_in_the_same_checkpoint_do_not_import_it():
    prefix = str(tf_oracle.case_prefix("all_dtypes"))
    assert not _imports_ml_dtypes(f"""
        out = bundlefast.load({prefix!r}, names=["float32/values", "int64/extremes"], verify=True)
        assert out["float32/values"].dtype.name == "float32"
    """)


def test_a_bfloat16_tensor_imports_it():
    prefix = str(tf_oracle.case_prefix("all_dtypes"))
    assert _imports_ml_dtypes(f"""
        out = bundlefast.load({prefix!r}, names=["bfloat16/values"])
        assert out["bfloat16/values"].dtype.name == "bfloat16"
    """)


def test_a_dtype_query_for_one_of_its_types_imports_it():
    assert _imports_ml_dtypes("bundlefast._dtypes.numpy_dtype(14)  # DT_BFLOAT16")
    assert not _imports_ml_dtypes("assert str(bundlefast._dtypes.numpy_dtype(1)) == 'float32'")


def test_listing_a_bfloat16_checkpoint_does_not_import_it():
    """The CLI's table (names, TF dtypes, shapes, sizes) needs no NumPy dtype."""
    prefix = str(tf_oracle.case_prefix("all_dtypes"))
    assert not _imports_ml_dtypes(f"""
        from bundlefast.__main__ import main
        assert main([{prefix!r}]) == 0
        with bundlefast.open({prefix!r}) as r:
            assert r.info("bfloat16/values").tf_dtype == "bfloat16"
    """)


def test_importing_bundlefast_imports_no_numpy_and_no_framework():
    """`import bundlefast` stays cheap for a process that may only list or read one
    tensor: NumPy comes with the first array, the writer and frameworks on first use."""
    code = (
        "import sys\nimport bundlefast\n"
        "heavy = [m for m in ('numpy', 'ml_dtypes', 'torch', 'jax', 'fsspec', 'dask', 'tensorflow') if m in sys.modules]\n"
        "print(heavy)\n"
        "bundlefast.save\n"  # the lazy attribute resolves
        "print('numpy' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "True"]
