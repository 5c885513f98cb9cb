"""A real S3 API on loopback for the remote and Dask tests.

``S3Server`` runs moto's server (``moto[server]``) on 127.0.0.1 and a free port, behind
``CountingProxy``: a small HTTP proxy that counts the requests and response bytes the
client really sent and received, can hold each request for a set delay (network
latency), and can fail ranged GETs on demand (a server error in the middle of a read).
Test data is uploaded straight to moto (not through the proxy), so counts only show the
reads under test.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Traffic:
    """What went through the proxy since the last reset."""

    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, Range header)
    body_bytes: int = 0  # response body bytes the client received

    @property
    def gets(self) -> int:
        return sum(1 for m, _, _ in self.requests if m == "GET")


class CountingProxy:
    """Forwards every request to ``upstream`` (host, port); see the module docstring."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.delay = 0.0  # seconds each request is held before it is forwarded
        self.fail_ranged_gets = False  # answer ranged GETs with 500 InternalError
        # moto reads a whole object for every ranged GET (O(object size) a request), which
        # would make the server the bottleneck of a benchmark: with this set, the proxy
        # fetches an object whole once and answers GETs of it itself (206 for a range, as S3).
        self.serve_ranges = False
        self._objects: dict[str, tuple[int, list[tuple[str, str]], bytes]] = {}
        self._fetch_lock = threading.Lock()
        self._lock = threading.Lock()
        self.traffic = Traffic()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _control(self) -> bool:
                """``/__traffic__``: the counts so far as JSON, reset; ``/__delay__/<seconds>``:
                set the delay. For a proxy in another process (the benchmarks)."""
                if self.path == "/__traffic__":
                    t = proxy.reset()
                    data = json.dumps({"requests": t.requests, "body_bytes": t.body_bytes}).encode()
                elif self.path.startswith("/__delay__/"):
                    proxy.delay = float(self.path.rsplit("/", 1)[1])
                    data = b"{}"
                else:
                    return False
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return True

            def _forward(self) -> None:
                if self._control():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                ranged = self.headers.get("Range", "")
                if proxy.delay:
                    time.sleep(proxy.delay)
                if proxy.fail_ranged_gets and self.command == "GET" and ranged:
                    status, headers, data = 500, [("Content-Type", "application/xml")], (
                        b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InternalError</Code>"
                        b"<Message>injected failure</Message></Error>"
                    )
                elif proxy.serve_ranges and self.command == "GET" and "?" not in self.path:
                    status, headers, data = proxy.ranged(self.path, ranged, dict(self.headers.items()))
                else:
                    status, headers, data = proxy.upstream_request(self.command, self.path, body, self.headers.items())
                with proxy._lock:
                    proxy.traffic.requests.append((self.command, self.path, ranged))
                self.send_response(status)
                sent_length = False
                for k, v in headers:
                    if k.lower() == "content-length":
                        sent_length = True
                    self.send_header(k, v)
                if not sent_length:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                # Streamed, and counted as it is sent (before each piece: the client may be
                # done before this thread runs again): a client may read a body's start
                # and hang up (s3fs's get does, then fetches the object in ranges).
                view = memoryview(data)
                try:
                    for at in range(0, len(data), 1 << 20):
                        piece = view[at : at + (1 << 20)]
                        with proxy._lock:
                            proxy.traffic.body_bytes += len(piece)
                        self.wfile.write(piece)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def upstream_request(
        self, method: str, path: str, body: bytes | None, headers: Any
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        try:
            conn.request(method, path, body=body, headers={k: v for k, v in headers if k.lower() not in _HOP_HEADERS})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_HEADERS], data
        finally:
            conn.close()

    def ranged(self, path: str, ranged: str, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        """A GET (ranged or not) answered from the object fetched whole (see serve_ranges)."""
        with self._fetch_lock:  # one whole fetch per object, however many ranges wait on it
            cached = self._objects.get(path)
            if cached is None:
                cached = self._fetch_whole(path, headers)
                if cached[0] != 200:
                    return cached
                self._objects[path] = cached
        _, got_headers, data = cached
        if not ranged:
            return 200, got_headers, data
        first, _, last = ranged.removeprefix("bytes=").partition("-")
        start, end = int(first), min(int(last) + 1 if last else len(data), len(data))
        return 206, [*got_headers, ("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")], data[start:end]

    def _fetch_whole(self, path: str, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        whole = {k: v for k, v in headers.items() if k.lower() != "range"}
        status, got_headers, data = self.upstream_request("GET", path, None, whole.items())
        # S3 sends no whole-object checksum with a range (the client would check it)
        kept = [(k, v) for k, v in got_headers if k.lower() != "content-length" and "checksum" not in k.lower()]
        return status, kept if status == 200 else got_headers, data

    def reset(self) -> Traffic:
        with self._lock:
            old, self.traffic = self.traffic, Traffic()
        return old

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class S3Server:
    """moto's S3 server and the proxy in front of it; ``options()`` are the s3fs
    ``storage_options`` that read through the proxy."""

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

        for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": "us-east-1"}.items():
            os.environ.setdefault(k, v)
        self.port = free_port()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port)
        self._moto.start()
        self.direct_url = f"http://127.0.0.1:{self.port}"
        self.proxy = CountingProxy(("127.0.0.1", self.port))
        self.proxy_url = self.proxy.url

    def options(self, *, direct: bool = False) -> dict[str, Any]:
        return {
            "endpoint_url": self.direct_url if direct else self.proxy_url,
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"region_name": "us-east-1"},
            "skip_instance_cache": True,
            "use_listings_cache": False,
            "config_kwargs": {"retries": {"max_attempts": 2, "mode": "standard"}},
        }

    def filesystem(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(**self.options(direct=True))

    def upload(self, local_dir: Path, url_dir: str) -> None:
        """Put every file of ``local_dir`` (recursively) under ``s3://url_dir``."""
        fs = self.filesystem()
        self.make_bucket(url_dir.split("/", 1)[0])
        for path in sorted(local_dir.rglob("*")):
            if path.is_file():
                fs.pipe_file(f"{url_dir}/{path.relative_to(local_dir).as_posix()}", path.read_bytes())

    def make_bucket(self, bucket: str) -> None:
        """Create ``bucket`` if needed (a plain PUT: moto's server takes it unsigned)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("PUT", f"/{bucket}", body=b"")
            resp = conn.getresponse()
            resp.read()
            if resp.status not in (200, 409):
                raise RuntimeError(f"creating bucket {bucket}: HTTP {resp.status}")
        finally:
            conn.close()

    def stop(self) -> None:
        self.proxy.close()
        self._moto.stop()


class RemoteS3Server:
    """An :class:`S3Server` in a child process (``python support_remote.py``), so that
    the client under test does not share a GIL with the server and the proxy (the
    benchmarks). ``traffic()`` and ``set_delay()`` talk to the proxy over HTTP."""

    def __init__(self, *, serve_ranges: bool = False) -> None:
        self._child = subprocess.Popen(
            [sys.executable, __file__, *(["--serve-ranges"] if serve_ranges else [])], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._child.stdout is not None
        line = ""
        while not line.startswith("S3SERVER "):  # moto prints a line of its own first
            line = self._child.stdout.readline()
            if not line:
                raise RuntimeError("the S3 server process exited before it was ready")
        self.direct_url, proxy_url = line.split()[1:]
        self.port = int(self.direct_url.rsplit(":", 1)[1])
        self.proxy_url = proxy_url

    options = S3Server.options
    filesystem = S3Server.filesystem
    upload = S3Server.upload
    make_bucket = S3Server.make_bucket

    def _get(self, path: str) -> Any:
        host, port = self.proxy_url.split("//", 1)[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request("GET", path)
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def traffic(self) -> Traffic:
        t = self._get("/__traffic__")
        return Traffic([tuple(r) for r in t["requests"]], t["body_bytes"])

    def set_delay(self, seconds: float) -> None:
        self._get(f"/__delay__/{seconds}")

    def stop(self) -> None:
        assert self._child.stdin is not None
        self._child.stdin.close()
        self._child.wait(timeout=30)


@contextmanager
def s3_server_process(*, serve_ranges: bool = False) -> Iterator[RemoteS3Server]:
    server = RemoteS3Server(serve_ranges=serve_ranges)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------------------
# Peak memory of a process (run in Dask workers with client.run)
# --------------------------------------------------------------------------------------


def reset_peak_rss() -> int:
    """Reset this process's peak RSS (VmHWM; Linux) and return its current RSS, in bytes."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _proc_status("VmRSS")


def peak_rss() -> int:
    """This process's peak RSS (VmHWM) since start or the last :func:`reset_peak_rss`."""
    return _proc_status("VmHWM")


def _proc_status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


# --------------------------------------------------------------------------------------
# A multi-GB embedding table that costs little disk: a sparse file with known rows
# --------------------------------------------------------------------------------------


def pattern_row(row: int, cols: int) -> np.ndarray:
    """The values of a patterned row of the table: ``row + column`` (int32)."""
    import numpy as np

    return (np.arange(cols, dtype=np.int64) + row).astype(np.int32)


def write_pattern_table(prefix: Path, rows: int, cols: int, every: int, name: str = "table") -> None:
    """An int32 tensor ``name`` of shape (rows, cols) at ``prefix``: row r holds
    :func:`pattern_row` when ``r % every == 0`` and zeros otherwise. The zero rows are
    holes of a sparse data file, so a 2 GiB table takes a few MiB of disk. Its CRC is
    right (``verify`` passes)."""
    import bundlefast
    from bundle_builder import BundleBuilder, DataType, encode_entry

    row_bytes = cols * 4
    size = rows * row_bytes
    tmp = Path(f"{prefix}.data.tmp")
    with open(tmp, "wb") as f:
        f.truncate(size)
        for r in range(0, rows, every):
            f.seek(r * row_bytes)
            f.write(pattern_row(r, cols).tobytes())
    # The CRC, without reading 2 GiB back: pattern rows and zero runs, joined with
    # crc32c_combine (the zero runs' CRCs by doubling).
    combine = bundlefast._core.crc32c_combine
    zeros: dict[int, int] = {}

    def zero_crc(n: int) -> int:
        if n not in zeros:
            if n <= 1 << 16:
                zeros[n] = bundlefast.crc32c(bytes(n))
            else:
                half = n // 2
                zeros[n] = combine(combine(zero_crc(half), zero_crc(half), half), zero_crc(n - 2 * half), n - 2 * half)
        return zeros[n]

    crc = 0
    for r in range(0, rows, every):
        row_crc = bundlefast.crc32c(pattern_row(r, cols).tobytes())
        crc = combine(crc, row_crc, row_bytes) if r else row_crc
        gap = (min(r + every, rows) - r - 1) * row_bytes
        if gap:
            crc = combine(crc, zero_crc(gap), gap)
    b = BundleBuilder()
    entry = encode_entry(DataType.INT32, (rows, cols), offset=0, size=size, masked_crc=bundlefast.mask_crc32c(crc))
    b.add_raw_entry(name, entry)
    b.write(prefix)  # the index, and an empty data file we replace
    os.replace(tmp, f"{prefix}.data-00000-of-00001")


def expected_table_sums(rows: int, cols: int, every: int) -> tuple[int, np.ndarray]:
    """(sum of all elements, per-column sums) of :func:`write_pattern_table`'s table."""
    import numpy as np

    patterned = np.arange(0, rows, every, dtype=np.int64)
    col_sums = patterned.sum() + len(patterned) * np.arange(cols, dtype=np.int64)
    return int(col_sums.sum()), col_sums


if __name__ == "__main__":  # RemoteS3Server's child: serve until stdin closes
    _server = S3Server()
    _server.proxy.serve_ranges = "--serve-ranges" in sys.argv
    print("S3SERVER", _server.direct_url, _server.proxy_url, flush=True)
    sys.stdin.read()
    _server.stop()
