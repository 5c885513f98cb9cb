"""``bundlefast verify PREFIX``: check every checksum, on several threads.

Tensors are checked in batches of about BATCH_BYTES; the core releases the GIL while it
reads and checksums, so batches run in parallel. A batch that fails is checked again
one tensor at a time, so every damaged tensor is reported, each with its file and
offset, and a damaged entry does not hide the others. Exit 0 when clean, 1 when
anything is damaged, 2 when the checkpoint or one of its data files is missing.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from ..errors import BundleError
from ._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, human_bytes, message, open_location
from ._progress import progress_bar
from .ls import stored_bytes

BATCH_BYTES = 32 * 1024 * 1024
BATCH_TENSORS = 512

DESCRIPTION = (
    "Check the CRC32C of every tensor (and of string lengths). Exit 0 when clean, 1 when damaged "
    "(every bad tensor listed with its file and offset), 2 for usage errors and missing files."
)


def add_parser(commands: Any) -> None:
    p = commands.add_parser("verify", help="check every checksum", description=DESCRIPTION)
    p.add_argument("prefix", help="checkpoint prefix, P.index path, checkpoint directory or SavedModel directory")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads (default: one per CPU)")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    p.set_defaults(run=run)


def batches(sizes: dict[str, int]) -> list[list[str]]:
    """Names in index order, cut into batches of about BATCH_BYTES or BATCH_TENSORS."""
    out: list[list[str]] = []
    current: list[str] = []
    total = 0
    for name, size in sizes.items():
        if current and (total + size > BATCH_BYTES or len(current) >= BATCH_TENSORS):
            out.append(current)
            current, total = [], 0
        current.append(name)
        total += size
    if current:
        out.append(current)
    return out


def check(reader: Any, names: list[str]) -> dict[str, BundleError]:
    """``{name: error}`` for the damaged (or unreadable) tensors among ``names``."""
    try:
        reader.verify(names)
        return {}
    except BundleError:
        pass
    bad = {}
    for name in names:
        try:
            reader.verify([name])
        except BundleError as err:
            bad[name] = err
    return bad


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    with open_location(args.prefix, args.argv) as reader:
        sizes = {name: stored_bytes(reader.info(name)) for name in reader}
        bad: dict[str, BundleError] = {}
        bar = progress_bar(sum(sizes.values()), "verify", enabled=not args.no_progress)
        try:
            with ThreadPoolExecutor(max(1, args.threads)) as pool:
                jobs = {pool.submit(check, reader, batch): batch for batch in batches(sizes)}
                for job in as_completed(jobs):
                    bad.update(job.result())
                    bar.update(sum(sizes[n] for n in jobs[job]))
        finally:
            bar.close()
        prefix = reader.prefix
    seconds = time.perf_counter() - start
    total = sum(sizes.values())
    if bad:
        missing = {n for n, err in bad.items() if isinstance(err, FileNotFoundError)}
        for name in sizes:  # index order, whatever order the threads finished in
            if name in bad:
                print(f"{'MISSING' if name in missing else 'DAMAGED'} {name}: {message(bad[name])}")
        if missing:
            print(f"{len(missing)} of {len(sizes)} tensors in data files that do not exist; "
                  f"{len(bad) - len(missing)} damaged: {prefix}")  # fmt: skip
            return EXIT_USAGE
        print(f"{len(bad)} of {len(sizes)} tensors damaged: {prefix}")
        return EXIT_FAILED
    print(f"OK: {len(sizes)} tensors, {human_bytes(total)} checked in {seconds:.2f} s, every checksum matches: {prefix}")
    return EXIT_OK
