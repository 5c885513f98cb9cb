"""The child process of tests/test_writer_crash.py (no TensorFlow: it must start fast).

    python writer_crash_child.py bundle PREFIX
        print 0; wait for a line on stdin; save values("new") over PREFIX; print how
        long that took.
    python writer_crash_child.py state DIRECTORY
        print 0; wait for a line; then forever: save step n+1 under DIRECTORY/ckpt-<n+1>
        and make it the latest with update_checkpoint_state(max_to_keep=2).
"""

from __future__ import annotations

import os
import sys
import time

import bundlefast
import numpy as np

OLD_SHARD = 600_000  # old: 4 data shards (400 KB tensors)
NEW_SHARD = 900_000  # new: 2


def values(which: str) -> dict[str, np.ndarray]:
    """Two different checkpoints under the same names, ~1.6 MB each."""
    rng = np.random.default_rng(1 if which == "old" else 2)
    out = {f"w{i}": rng.standard_normal(100_000).astype(np.float32) for i in range(4)}
    out["s"] = np.array([which.encode() * 1000, b"", b"\x00"], dtype=object)
    out["marker"] = np.array(which.encode(), dtype=object)
    return out


def step_values(step: int) -> dict[str, np.ndarray]:
    return {"step": np.int64(step), "w": np.full(1 << 16, step, np.float32)}


def main(mode: str, target: str) -> None:
    if mode == "bundle":
        new = values("new")
        print(0.0, flush=True)
        sys.stdin.readline()
        start = time.perf_counter()
        bundlefast.save(target, new, max_shard_bytes=NEW_SHARD)
        print(time.perf_counter() - start, flush=True)
        return
    state = bundlefast.get_checkpoint_state(target)
    step = int(state.model_checkpoint_path.rsplit("-", 1)[1]) + 1  # no load: ml_dtypes' import is slow
    print(0.0, flush=True)
    sys.stdin.readline()
    while True:
        prefix = bundlefast.save(os.path.join(target, f"ckpt-{step}"), step_values(step))
        bundlefast.update_checkpoint_state(target, prefix, max_to_keep=2)
        step += 1


if __name__ == "__main__":
    main(*sys.argv[1:3])
