"""This process's memory as the kernel counts it (/proc/self/status), for the benchmarks'
peak-RSS children: VmHWM is the peak RSS, RssAnon what the process owns (a copy of the
data), RssFile the page cache it maps (views of a shard)."""

from __future__ import annotations

_KEYS = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem")


def proc_status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile and RssShmem of this process, in bytes (Linux)."""
    vals = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in _KEYS:
                vals[key] = int(rest.split()[0]) * 1024
    return vals
