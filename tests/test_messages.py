"""What a user who typed something wrong reads: each message of issue 8.4 (the non-CLI ones),
and the README's example, run on the checkpoint it names."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest
from bundle_builder import BundleBuilder

import bundlefast
from bundlefast.errors import TensorNotFoundError

ROOT = Path(__file__).resolve().parent.parent
KERAS = ROOT / "tests" / "data" / "keras_tf2"  # written by TensorFlow 2.21 (make_fixtures.py)


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    b = BundleBuilder()
    for name in ["dense/kernel", "dense/bias", "embedding/table", "w"]:
        b.add(name, np.arange(3, dtype=np.float32))
    b.write(tmp_path / "ckpt-1")
    return tmp_path / "ckpt-1"


# --- names given as one string --------------------------------------------------------


def _calls_taking_names(prefix: Path):
    reader = bundlefast.open(prefix)
    yield "load", lambda names: bundlefast.load(prefix, names=names)
    yield "load_friendly", lambda names: bundlefast.load_friendly(prefix, names=names)
    yield "load", lambda names: reader.load(names)
    yield "verify", lambda names: reader.verify(names)


@pytest.mark.parametrize("names", ["w", b"w", "dense/kernel"])
def test_names_as_one_string_is_a_type_error(ckpt, names):
    for api, call in _calls_taking_names(ckpt):
        with pytest.raises(TypeError) as err:
            call(names)
        text = str(err.value)
        assert text.startswith(f"{api}: names must be a list of tensor names, not a single "), text
        assert f"names=[{names!r}]" in text


def test_names_as_a_list_or_any_iterable_still_work(ckpt):
    assert list(bundlefast.load(ckpt, names=["w"])) == ["w"]
    assert list(bundlefast.load(ckpt, names=(n for n in ["w", "dense/bias"]))) == ["w", "dense/bias"]
    with bundlefast.open(ckpt) as r:
        r.verify(("w",))


# --- a tensor name that is not there ---------------------------------------------------


def test_a_missing_name_lists_close_names(ckpt):
    with pytest.raises(TensorNotFoundError) as err:
        bundlefast.load(ckpt, names=["dense/kernal"])
    text = str(err.value)
    assert text.startswith(f"tensor 'dense/kernal' not found in {ckpt}.index; did you mean 'dense/kernel'")
    with bundlefast.open(ckpt) as r:
        for call in (lambda: r["dense/kernal"], lambda: r.get_array("dense/kernal"), lambda: r.info("dense/kernal"),
                     lambda: r.verify(["dense/kernal"])):
            with pytest.raises(TensorNotFoundError, match=r"did you mean 'dense/kernel'"):
                call()
        assert r.get("dense/kernal") is None  # Mapping.get still sees a KeyError


def test_close_names_are_at_most_five(tmp_path):
    b = BundleBuilder()
    for i in range(12):
        b.add(f"layer/{i}/kernel", np.zeros(1, np.float32))
    b.write(tmp_path / "m")
    with pytest.raises(TensorNotFoundError) as err:
        bundlefast.load(tmp_path / "m", names=["layer/1/kernal"])
    suggested = str(err.value).split("did you mean ", 1)[1].rstrip("?").split(", ")
    assert len(suggested) == 5 and suggested[0] == "'layer/1/kernel'", suggested


def test_nothing_close_adds_no_guess(ckpt):
    with pytest.raises(TensorNotFoundError) as err:
        bundlefast.load(ckpt, names=["zzzzzzzzzzzz"])
    assert str(err.value) == f"tensor 'zzzzzzzzzzzz' not found in {ckpt}.index"


def test_a_friendly_name_passed_as_a_key_points_at_load_friendly():
    name = "optimizer/_trainable_variables/0"
    with pytest.raises(TensorNotFoundError) as err:
        bundlefast.load(KERAS, names=[name])
    text = str(err.value)
    assert f"{name!r} is a friendly name, of the key '{name}/.ATTRIBUTES/VARIABLE_VALUE'" in text
    assert f"bundlefast.load_friendly(prefix, names=[{name!r}]) takes friendly names" in text
    assert bundlefast.load_friendly(KERAS, names=[name])[name].shape == (20, 4)


def test_a_key_passed_as_a_friendly_name_points_at_load():
    key = "optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE"
    with pytest.raises(TensorNotFoundError) as err:
        bundlefast.load_friendly(KERAS, names=[key])
    text = str(err.value)
    assert f"it is a tensor key: bundlefast.load(prefix, names=[{key!r}]) takes keys" in text
    with pytest.raises(TensorNotFoundError, match=r"did you mean 'optimizer/_trainable_variables/1'"):
        bundlefast.load_friendly(KERAS, names=["optimizer/_trainable_variables/1x"])


# --- paths ------------------------------------------------------------------------------


def test_a_typo_in_the_prefix_gets_did_you_mean(ckpt):
    typo = ckpt.with_name("ckpt-l")  # a lowercase L for the 1
    with pytest.raises(FileNotFoundError) as err:
        bundlefast.load(typo)
    assert f"did you mean bundlefast.load({str(ckpt)!r})?" in str(err.value)
    assert err.value.filename == f"{typo}.index"


def test_a_path_to_saved_model_pb_suggests_its_directory(tmp_path):
    saved = tmp_path / "export"
    (saved / "variables").mkdir(parents=True)
    b = BundleBuilder()
    b.add("v", np.zeros(2, np.float32))
    b.write(saved / "variables" / "variables")
    for graph in ("saved_model.pb", "saved_model.pbtxt"):
        (saved / graph).write_bytes(b"\x08\x01")
        with pytest.raises(FileNotFoundError) as err:
            bundlefast.load(saved / graph)
        text = str(err.value)
        assert "is a SavedModel's graph, not a checkpoint: pass its directory" in text
        assert f"bundlefast.load({str(saved)!r})" in text
        (saved / graph).unlink()


# --- README and LICENSE ------------------------------------------------------------------


def test_the_readme_examples_run_on_the_shipped_checkpoint(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    # A closing code fence right after an expected output is Markdown, not output.
    text = "\n".join("" if line.strip().startswith("```") else line for line in text.splitlines())
    test = doctest.DocTestParser().get_doctest(text, {}, "README.md", str(ROOT / "README.md"), 0)
    assert len(test.examples) >= 5  # the Keras 3 example above, at least
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0, "README.md examples fail (run python -m doctest README.md for details)"


def test_the_license_is_apache_2_and_declared_for_the_wheel():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text) > 10_000  # the full text
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8").splitlines()
    assert 'license = "Apache-2.0"' in pyproject and 'license-files = ["LICENSE"]' in pyproject
