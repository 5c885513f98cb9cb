"""Checkpoints read from a real S3 API on loopback: moto's server behind a counting,
delaying proxy (support_remote.py), read with s3fs.

What is counted is what crossed the wire: requests and response bytes at the proxy.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import bundlefast
from bundlefast.errors import BundleError, BundleFileNotFoundError, BundleOSError
from bundle_builder import BundleBuilder
from support_remote import s3_server


@pytest.fixture(scope="module")
def s3():
    with s3_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _quiet_proxy(s3):
    s3.proxy.delay = 0.0
    s3.proxy.fail_ranged_gets = False
    s3.proxy.reset()


def _same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        if a[name].dtype == object:
            assert a[name].tolist() == b[name].tolist(), name
        else:
            assert a[name].tobytes() == b[name].tobytes(), name


@pytest.fixture(scope="module")
def bert_like(tmp_path_factory, s3):
    """BERT-base's tensor count and layout (embeddings, 12 layers x 16 tensors, pooler),
    with small shapes: 199 float32 tensors in one shard, uploaded as s3://ckpts/bert."""
    rng = np.random.default_rng(7)
    b = BundleBuilder()
    names = ["bert/embeddings/word_embeddings", "bert/embeddings/position_embeddings",
             "bert/embeddings/token_type_embeddings", "bert/embeddings/LayerNorm/gamma",
             "bert/embeddings/LayerNorm/beta"]
    for layer in range(12):
        for part in ("attention/self/query", "attention/self/key", "attention/self/value",
                     "attention/output/dense", "intermediate/dense", "output/dense"):
            names += [f"bert/encoder/layer_{layer}/{part}/kernel", f"bert/encoder/layer_{layer}/{part}/bias"]
        for ln in ("attention/output/LayerNorm", "output/LayerNorm"):
            names += [f"bert/encoder/layer_{layer}/{ln}/gamma", f"bert/encoder/layer_{layer}/{ln}/beta"]
    names += ["bert/pooler/dense/kernel", "bert/pooler/dense/bias"]
    arrays = {n: rng.standard_normal((24, 8) if n.endswith("kernel") else (24,)).astype(np.float32) for n in names}
    for n, v in arrays.items():
        b.add(n, v)
    d = tmp_path_factory.mktemp("bert")
    b.write(d / "model.ckpt")
    (d / "checkpoint").write_text('model_checkpoint_path: "model.ckpt"\n')
    s3.upload(d, "ckpts/bert")
    return arrays


@pytest.fixture(scope="module")
def big(tmp_path_factory, s3):
    """Five 1 MiB tensors and a small one, as s3://ckpts/big/big."""
    rng = np.random.default_rng(3)
    arrays = {f"t{i}": rng.integers(0, 255, size=(1 << 20,), dtype=np.uint8) for i in range(5)}
    arrays["small"] = np.arange(10, dtype=np.float32)
    b = BundleBuilder()
    for k, v in arrays.items():
        b.add(k, v)
    d = tmp_path_factory.mktemp("big")
    b.write(d / "big")
    s3.upload(d, "ckpts/big")
    return d / "big", arrays


def test_fixtures_read_from_s3_equal_local(s3, data_dir):
    for case in ("sharded_tf1", "partitioned_tf1", "strings"):
        s3.upload(data_dir / case, f"ckpts/{case}")
        _same(bundlefast.load(f"s3://ckpts/{case}", storage_options=s3.options(), verify=True),
              bundlefast.load(data_dir / case))


def test_one_tensor_fetches_the_index_the_tensor_and_little_more(s3, big):
    prefix, arrays = big
    index_size = Path(str(prefix) + ".index").stat().st_size
    s3.proxy.reset()
    got = bundlefast.load("s3://ckpts/big/big", names=["t3"], storage_options=s3.options(), verify=True)
    np.testing.assert_array_equal(got["t3"], arrays["t3"])
    traffic = s3.proxy.reset()
    print(f"load(names=['t3']): {traffic.body_bytes} bytes over {len(traffic.requests)} requests "
          f"(index {index_size}, tensor {arrays['t3'].nbytes}): {traffic.requests}")
    assert traffic.body_bytes <= index_size + arrays["t3"].nbytes + (1 << 20)
    assert traffic.body_bytes >= index_size + arrays["t3"].nbytes


def test_all_of_a_bert_sized_checkpoint_takes_a_handful_of_round_trips(s3, bert_like):
    s3.proxy.delay = 0.05
    start = time.perf_counter()
    got = bundlefast.load("s3://ckpts/bert", storage_options=s3.options(), verify=True)
    seconds = time.perf_counter() - start
    traffic = s3.proxy.reset()
    print(f"{len(got)} tensors: {len(traffic.requests)} requests ({traffic.gets} GETs), "
          f"{traffic.body_bytes} bytes, {seconds:.2f} s at 50 ms a request: {traffic.requests}")
    _same(got, bert_like)
    assert len(got) == 199
    # two listings and the state file (resolving the directory), the index, the data:
    # one ranged GET for all 199 tensors, where one request per tensor would be 199
    assert len(traffic.requests) <= 6
    assert sum(1 for _, path, _ in traffic.requests if ".data-" in path) == 1


def test_region_reads_fetch_only_their_span(s3, big):
    _, arrays = big
    with bundlefast.open("s3://ckpts/big/big", storage_options=s3.options()) as r:
        s3.proxy.reset()
        np.testing.assert_array_equal(r.get_slice("t1")[4096:8192], arrays["t1"][4096:8192])
        traffic = s3.proxy.reset()
    assert traffic.body_bytes == 4096 and traffic.gets == 1, traffic


def test_missing_object(s3, big):
    with pytest.raises(BundleFileNotFoundError, match="s3://ckpts/big/nothing"):
        bundlefast.load("s3://ckpts/big/nothing", storage_options=s3.options())
    fs = s3.filesystem()
    fs.pipe_file("ckpts/noshard/big.index", fs.cat_file("ckpts/big/big.index"))
    with pytest.raises(BundleFileNotFoundError, match=r"s3://ckpts/noshard/big\.data-00000-of-00001"):
        bundlefast.load("s3://ckpts/noshard/big", storage_options=s3.options())


def test_truncated_object(s3, big):
    fs = s3.filesystem()
    fs.pipe_file("ckpts/short/big.index", fs.cat_file("ckpts/big/big.index"))
    whole = fs.cat_file("ckpts/big/big.data-00000-of-00001")
    fs.pipe_file("ckpts/short/big.data-00000-of-00001", whole[: len(whole) - 1000])
    with pytest.raises(BundleError, match=r"s3://ckpts/short/big\.data-00000-of-00001"):
        bundlefast.load("s3://ckpts/short/big", storage_options=s3.options())


def test_server_error_mid_read(s3, big):
    with bundlefast.open("s3://ckpts/big/big", storage_options=s3.options()) as r:
        s3.proxy.fail_ranged_gets = True
        with pytest.raises(BundleOSError, match=r"s3://ckpts/big/big\.data-00000-of-00001: bytes \[\d+, \d+\)"):
            r.load()
        assert all(not f._starts for f in r._remote.files.values())  # nothing partial kept
        s3.proxy.fail_ranged_gets = False
        _same(r.load(verify=True), big[1])  # the reader still works afterwards
