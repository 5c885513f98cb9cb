"""Deterministic benchmark checkpoints, generated once and cached in a work directory.

Each workload is a TensorFlow V2 checkpoint (``P.index`` + ``P.data-00000-of-00001``),
written with TensorFlow's own ``SaveV2`` op when TensorFlow is importable (the files
are then byte-for-byte what ``tf.train.Checkpoint`` would write for those tensors),
else with the pure-Python ``tests/bundle_builder.py`` (its slow pure-Python CRC is
swapped for the ``crc32c`` package when that is installed). Next to it go a
``.safetensors`` file of the same arrays and ``meta.json`` (layout and generator).

Run as ``python benchmarks/workloads.py NAME DIR [--builder tf|python]``; ``run.py``
calls it in a child process so the benchmark process never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FORMAT_VERSION = 3  # bump when the generated content changes: invalidates caches

# A tensor spec: (name, shape, numpy dtype name).
Spec = tuple[str, tuple[int, ...], str]


def bert_specs(
    vocab: int = 30522, hidden: int = 768, layers: int = 12, intermediate: int = 3072, positions: int = 512
) -> list[Spec]:
    """The variables of google-research/bert's BERT-base checkpoint (TF1 names)."""
    h, f = hidden, "float32"
    specs: list[Spec] = [
        ("bert/embeddings/word_embeddings", (vocab, h), f),
        ("bert/embeddings/token_type_embeddings", (2, h), f),
        ("bert/embeddings/position_embeddings", (positions, h), f),
        ("bert/embeddings/LayerNorm/beta", (h,), f),
        ("bert/embeddings/LayerNorm/gamma", (h,), f),
    ]
    for i in range(layers):
        p = f"bert/encoder/layer_{i}"
        for part in ("query", "key", "value"):
            specs += [(f"{p}/attention/self/{part}/kernel", (h, h), f), (f"{p}/attention/self/{part}/bias", (h,), f)]
        specs += [
            (f"{p}/attention/output/dense/kernel", (h, h), f),
            (f"{p}/attention/output/dense/bias", (h,), f),
            (f"{p}/attention/output/LayerNorm/beta", (h,), f),
            (f"{p}/attention/output/LayerNorm/gamma", (h,), f),
            (f"{p}/intermediate/dense/kernel", (h, intermediate), f),
            (f"{p}/intermediate/dense/bias", (intermediate,), f),
            (f"{p}/output/dense/kernel", (intermediate, h), f),
            (f"{p}/output/dense/bias", (h,), f),
            (f"{p}/output/LayerNorm/beta", (h,), f),
            (f"{p}/output/LayerNorm/gamma", (h,), f),
        ]
    specs += [
        ("bert/pooler/dense/kernel", (h, h), f),
        ("bert/pooler/dense/bias", (h,), f),
        ("cls/predictions/output_bias", (vocab,), f),
        ("cls/predictions/transform/dense/kernel", (h, h), f),
        ("cls/predictions/transform/dense/bias", (h,), f),
        ("cls/predictions/transform/LayerNorm/beta", (h,), f),
        ("cls/predictions/transform/LayerNorm/gamma", (h,), f),
        ("cls/seq_relationship/output_weights", (2, h), f),
        ("cls/seq_relationship/output_bias", (2,), f),
        ("global_step", (), "int64"),
    ]
    return specs


def many_specs(n: int = 50_000) -> list[Spec]:
    """`n` small tensors, as in a deep model with many tiny variables (TF2 object names)."""
    kinds: list[tuple[str, tuple[int, ...], str]] = [
        ("kernel", (8, 8), "float32"),
        ("bias", (8,), "float32"),
        ("gamma", (8,), "float32"),
        ("beta", (8,), "float16"),
        ("step", (), "int64"),
    ]
    layers = (n + len(kinds) - 1) // len(kinds)
    specs = [
        (f"model/layer_with_weights-{i}/{k}/.ATTRIBUTES/VARIABLE_VALUE", shape, dt)
        for i in range(layers)
        for k, shape, dt in kinds
    ]
    return specs[:n]


def huge_specs() -> list[Spec]:
    """One tensor over 2**31 bytes (int32 sizes and offsets would overflow), plus two small ones."""
    rows = (2**31) // (768 * 4) + 1  # 699051 x 768 float32 = 2,147,486,720 bytes
    return [
        ("huge/embeddings", (rows, 768), "float32"),
        ("huge/bias", (768,), "float32"),
        ("step", (), "int64"),
    ]


WORKLOADS: dict[str, Callable[[], list[Spec]]] = {
    "bert": bert_specs,
    "many": many_specs,
    "huge": huge_specs,
    # --quick variants: same shape of problem, small enough for CI.
    "bert-quick": lambda: bert_specs(hidden=128, layers=2, intermediate=512, positions=128),
    "many-quick": lambda: many_specs(5_000),
}

DESCRIPTIONS = {
    "bert": "BERT-base (TF1 names, 30522x768 embedding, 110M float32)",
    "many": "50,000 small tensors",
    "huge": "one tensor over 2^31 bytes",
    "bert-quick": "BERT-tiny-like (30522x128 embedding)",
    "many-quick": "5,000 small tensors",
}


def arrays(specs: list[Spec], seed: int = 0) -> Iterator[tuple[str, np.ndarray]]:
    """Deterministic values: N(0, 0.02) floats (a trained model's weights are incompressible too)."""
    rng = np.random.default_rng(seed)
    for name, shape, dtype in specs:
        dt = np.dtype(dtype)
        if dt.kind == "f":
            a = rng.standard_normal(shape, dtype=np.float32)
            a *= 0.02
            yield name, a.astype(dt, copy=False)
        else:
            yield name, rng.integers(0, 1_000_000, size=shape, dtype=dt)


def _write_tf(prefix: str, specs: list[Spec]) -> str:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from tensorflow.python.ops import io_ops

    names, tensors = [], []
    for name, a in arrays(specs):
        names.append(name)
        tensors.append(tf.constant(a))
    io_ops.save_v2(prefix, names, [""] * len(names), tensors)
    return f"tensorflow {tf.__version__} SaveV2"


def _write_builder(prefix: str, specs: list[Spec]) -> str:
    sys.path.insert(0, str(REPO / "tests"))
    import bundle_builder

    how = "tests/bundle_builder.py"
    try:  # the builder's CRC is pure Python (~1 MB/s): use a C one for the payloads
        import crc32c as crc_pkg

        bundle_builder.masked_crc32c = lambda data: bundle_builder.mask(crc_pkg.crc32c(data))
        how += " (payload CRCs by the crc32c package)"
    except ImportError:
        if sum(np.dtype(d).itemsize * int(np.prod(s)) for _, s, d in specs) > 50_000_000:
            raise SystemExit("generating this workload without TensorFlow needs `pip install crc32c`") from None
    b = bundle_builder.BundleBuilder()
    for name, a in arrays(specs):
        b.add(name, a)
    b.write(prefix)
    return how


def _write_safetensors(path: Path, specs: list[Spec]) -> bool:
    try:
        from safetensors.numpy import save_file
    except ImportError:
        return False
    save_file(dict(arrays(specs)), str(path))
    return True


def independent_layout(index_path: str) -> list[list]:
    """[name, numpy dtype str, shape, offset, size, masked crc32c] of every
    entry of an uncompressed single-shard index, in key order, parsed by
    tests/bundle_surgery.py (which shares no code with bundlefast)."""
    sys.path.insert(0, str(REPO / "tests"))
    import bundle_builder
    import bundle_surgery as bs

    numpy_of = {int(dt): np.dtype(npdt).str for npdt, dt in bundle_builder._NUMPY_DTYPES.items()}
    layout = []
    with open(index_path, "rb") as f:
        index = f.read()
    for key, value in bs.index_entries(index):
        if key == b"":
            continue  # the header entry
        found = dict(bs.fields(value))
        shape = []
        for field, dim in bs.fields(found.get(2, b"")):  # TensorShapeProto.dim, each {size = 1}
            if field == 2:
                shape.append(dict(bs.fields(dim)).get(1, 0))
        if found.get(3, 0) != 0:
            raise ValueError(f"{key!r}: the benchmark workloads have one shard")
        crc = int.from_bytes(found[6], "little") if 6 in found else None
        layout.append([key.decode(), numpy_of[found.get(1, 0)], shape, found.get(4, 0), found.get(5, 0), crc])
    return layout


def paths(work_dir: Path, name: str) -> dict[str, Path]:
    d = work_dir / name
    return {
        "dir": d,
        "prefix": d / "ckpt",
        "index": d / "ckpt.index",
        "data": d / "ckpt.data-00000-of-00001",
        "safetensors": d / "model.safetensors",
        "meta": d / "meta.json",
    }


def load_meta(work_dir: Path, name: str) -> dict | None:
    p = paths(work_dir, name)
    try:
        meta = json.loads(p["meta"].read_text())
    except (OSError, ValueError):
        return None
    if meta.get("format_version") != FORMAT_VERSION or not p["index"].is_file() or not p["data"].is_file():
        return None
    return meta


def generate(name: str, work_dir: Path, builder: str) -> dict:
    """Writes the workload (checkpoint, safetensors, meta.json) and returns the metadata."""
    specs = WORKLOADS[name]()
    p = paths(work_dir, name)
    p["dir"].mkdir(parents=True, exist_ok=True)
    for f in p["dir"].iterdir():
        f.unlink()
    t0 = time.perf_counter()
    how = _write_tf(str(p["prefix"]), specs) if builder == "tf" else _write_builder(str(p["prefix"]), specs)
    has_st = _write_safetensors(p["safetensors"], specs)
    # Layout of each payload, read back from the index by the tests' own
    # parser (not bundlefast's, so the benchmark's checks do not trust the
    # code under test): the numpy-memmap baseline needs offsets, checks CRCs.
    layout = independent_layout(str(p["index"]))
    meta = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "description": DESCRIPTIONS[name],
        "generator": how,
        "generate_seconds": round(time.perf_counter() - t0, 2),
        "num_tensors": len(specs),
        "data_bytes": p["data"].stat().st_size,
        "index_bytes": p["index"].stat().st_size,
        "safetensors": has_st,
        "layout": layout,
    }
    p["meta"].write_text(json.dumps(meta))
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", choices=sorted(WORKLOADS))
    ap.add_argument("work_dir", type=Path)
    ap.add_argument("--builder", choices=("tf", "python"), default="tf")
    args = ap.parse_args()
    meta = generate(args.name, args.work_dir, args.builder)
    print(json.dumps({k: v for k, v in meta.items() if k != "layout"}))


if __name__ == "__main__":
    main()
