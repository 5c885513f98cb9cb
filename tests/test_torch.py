"""PyTorch: ``bundlefast.restore`` into a torch model built here (Embedding, LayerNorm,
Linear) from the Keras checkpoint ``keras_restore``, whose output must equal TF's on the
same input; the README recipe, executed; ``bundlefast.torch.load`` dtypes and values, and
that a loaded tensor is safe to write into."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from restore_support import require
from tf_oracle import assert_same_array, case_prefix, make_fixtures

import bundlefast

torch = require("torch")
import bundlefast.torch  # noqa: E402

KERAS = case_prefix("keras_restore")
README = Path(__file__).resolve().parents[1] / "README.md"


class TinyEncoder(torch.nn.Module):
    """The torch twin of tests/data/make_fixtures.py's restore_model_class."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(50, 16)
        self.norm = torch.nn.LayerNorm(16, eps=1e-5)
        self.ffn = torch.nn.Linear(16, 32)
        self.proj = torch.nn.Linear(32, 8)

    def forward(self, ids):
        return self.proj(torch.relu(self.ffn(self.norm(self.embed(ids)))))


NAMES = {  # torch name -> the Keras model's path in the object graph
    "embed.weight": "model/embed/_embeddings",
    "norm.weight": "model/norm/gamma",
    "norm.bias": "model/norm/beta",
    "ffn.weight": "model/ffn/_kernel",
    "ffn.bias": "model/ffn/bias",
    "proj.weight": "model/proj/_kernel",
    "proj.bias": "model/proj/bias",
}


def _tf_output():
    tf = require("tensorflow")
    fixtures = make_fixtures()
    model = fixtures.restore_model_class()()
    ids = fixtures.restore_model_input()
    model(ids)
    tf.train.Checkpoint(model=model).restore(str(KERAS)).expect_partial().assert_existing_objects_matched()
    return ids, model(ids).numpy()


def _linear_to_torch(name, array):
    return array.T if name in ("ffn.weight", "proj.weight") else array


@pytest.mark.tf
def test_torch_model_output_equals_tf():
    ids, want = _tf_output()
    model = TinyEncoder()
    report = bundlefast.restore(KERAS, model, map=NAMES, transform=_linear_to_torch)
    assert report.ok and sorted(report.restored) == sorted(NAMES)
    with torch.no_grad():
        got = model(torch.from_numpy(ids).long()).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_strict_errors_list_every_problem_for_a_module():
    model = TinyEncoder()
    before = model.embed.weight.detach().clone()
    names = {**NAMES, "norm.weight": "model/norm/gama", "ffn.bias": "model/ffn/bais"}
    with pytest.raises(bundlefast.RestoreError) as info:
        bundlefast.restore(KERAS, model, map=names)  # no transform: the Linear weights are [in, out]
    text = str(info.value)
    assert "4 problem(s) in 7 targets" in text
    assert "norm.weight [torch float32 [16]] (looked for 'model/norm/gama'); did you mean 'model/norm/gamma'" in text
    assert "ffn.bias [torch float32 [32]] (looked for 'model/ffn/bais'); did you mean 'model/ffn/bias'" in text
    assert re.search(r"shape differs \(2\):\n    ffn.weight: target torch float32 \[32, 16\], checkpoint .* float32 \[16, 32\]", text)
    assert torch.equal(model.embed.weight, before)  # nothing was written


def test_strict_false_reports_and_restores_the_rest():
    model = TinyEncoder()
    report = bundlefast.restore(KERAS, model, map={**NAMES, "proj.bias": None}, strict=False)
    assert sorted(report.restored) == ["embed.weight", "ffn.bias", "norm.bias", "norm.weight"]
    assert report.skipped == ["proj.bias"]
    assert {m.target for m in report.mismatched} == {"ffn.weight", "proj.weight"}
    with bundlefast.open(KERAS) as reader:
        want = reader["model/norm/gamma/.ATTRIBUTES/VARIABLE_VALUE"]
    assert np.array_equal(model.norm.weight.detach().numpy(), want)
    assert "skipped by the map (1):\n    proj.bias" in str(report)


@pytest.mark.tf
def test_readme_recipe_runs():
    """The "Restoring into models" recipe in README.md, executed as written on this model."""
    text = README.read_text()
    blocks = re.findall(r"<!-- restore-recipe -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) == 1, "README.md must hold one ```python block marked <!-- restore-recipe -->"
    ids, want = _tf_output()
    namespace = {"model": TinyEncoder(), "checkpoint": str(KERAS)}
    exec(blocks[0], namespace)  # noqa: S102 - our own README
    with torch.no_grad():
        got = namespace["model"](torch.from_numpy(ids).long()).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["tf2_slots", "all_dtypes", "keras_restore"])
def test_load_matches_numpy(case):
    prefix = case_prefix(case)
    loaded = bundlefast.torch.load(prefix)
    with bundlefast.open(prefix) as reader:
        expected = {}
        for name in reader:
            info = reader.info(name)
            if info.dtype is None or info.dtype == object:
                continue
            try:
                expected[name] = (reader[name], bundlefast.torch._torch_dtype(info))
            except bundlefast.UnsupportedError:
                continue  # e.g. int4: no torch dtype (tested below)
        assert set(loaded) <= set(reader)
    for name, (array, dtype) in expected.items():
        t = loaded[name]
        assert t.dtype == dtype and tuple(t.shape) == array.shape, name
        as_numpy, _ = bundlefast.torch.numpy_destination(t)
        assert_same_array(as_numpy, array, name)


def test_bfloat16_and_float8_become_torch_types():
    loaded = bundlefast.torch.load(case_prefix("tf2_slots"), names=["net/bf/.ATTRIBUTES/VARIABLE_VALUE"])
    assert loaded["net/bf/.ATTRIBUTES/VARIABLE_VALUE"].dtype == torch.bfloat16
    with bundlefast.open(case_prefix("all_dtypes")) as reader:
        f8 = sorted(n for n in reader if reader.info(n).tf_dtype in ("float8_e4m3fn", "float8_e5m2"))
    loaded = bundlefast.torch.load(case_prefix("all_dtypes"), names=f8)
    assert {str(t.dtype) for t in loaded.values()} == {"torch.float8_e4m3fn", "torch.float8_e5m2"}


def test_unsupported_dtype_named_explicitly_raises():
    with bundlefast.open(case_prefix("all_dtypes")) as reader:
        int4 = next(n for n in reader if reader.info(n).tf_dtype == "int4")
    with pytest.raises(bundlefast.UnsupportedError, match="int4 has no torch equivalent"):
        bundlefast.torch.load(case_prefix("all_dtypes"), names=[int4])
    with pytest.raises(bundlefast.UnsupportedError, match="string tensor has no torch equivalent"):
        bundlefast.torch.load(KERAS, names=["_CHECKPOINTABLE_OBJECT_GRAPH"])


def test_loaded_tensor_is_safe_to_write():
    """load copies: writing in place works, does not touch the file or a later load."""
    key = "model/ffn/_kernel/.ATTRIBUTES/VARIABLE_VALUE"
    data_file = Path(f"{KERAS}.data-00000-of-00001")
    before = data_file.read_bytes()
    t = bundlefast.torch.load(KERAS, names=[key])[key]
    original = t.clone()
    t.mul_(0).add_(3)  # in place: would SIGSEGV on a read-only mapping
    assert (t == 3).all()
    assert data_file.read_bytes() == before
    assert torch.equal(bundlefast.torch.load(KERAS, names=[key], verify=True)[key], original)


def test_cuda_load_goes_through_pinned_memory():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    key = "model/ffn/_kernel/.ATTRIBUTES/VARIABLE_VALUE"
    t = bundlefast.torch.load(KERAS, names=[key], device="cuda")[key]
    assert t.is_cuda and torch.equal(t.cpu(), bundlefast.torch.load(KERAS, names=[key])[key])


def test_cuda_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(bundlefast.UnsupportedError, match="cuda"):
        bundlefast.torch.load(KERAS, device="cuda")
