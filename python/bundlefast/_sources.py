"""Where a checkpoint's bytes come from: local files, or ranged reads through fsspec.

A local path is read by the core itself (mapped, or with ``pread`` when ``mmap=False``).
An fsspec URL (``s3://``, ``gs://``, ``https://``, ``memory://``, chained ones such as
``simplecache::s3://...``) is read through :class:`RemoteOpener`, which the core calls
as ``open_file(path)`` for the index and each data shard (``_core.Reader(open_file=...)``).

Remote reads are planned, not discovered one by one: before a read, the Reader asks the
core which byte ranges it will touch (``_core.Reader.fetches``), and :meth:`RemoteOpener.prefetch`
fetches them all at once (``cat_ranges``, concurrent for async backends such as s3fs),
coalescing ranges closer than :data:`COALESCE_GAP` and cutting long runs into pieces of
:data:`PIECE_BYTES` so that they too are fetched concurrently. The core then reads those
bytes from memory and checks CRCs exactly as for a local file. A fetch that fails or
comes back short raises :class:`~bundlefast.errors.BundleOSError` naming the URL and the
range, before the core sees any byte: no partial result is ever returned.

fsspec and its backends are optional (the ``remote`` extra) and imported only for URLs.
"""

from __future__ import annotations

import bisect
import errno
import posixpath
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import BundleFileNotFoundError, BundleOSError

__all__ = [
    "COALESCE_GAP",
    "PIECE_BYTES",
    "RemoteFile",
    "RemoteLocation",
    "RemoteOpener",
    "is_url",
    "remote_checkpoint_state",
    "remote_index_exists",
    "resolve_url",
    "url_filesystem",
]

# Two wanted ranges closer than this are fetched as one (the gap is read and dropped):
# a request costs a round trip, and a round trip costs as much as reading this many bytes.
COALESCE_GAP = 256 << 10
# Longer runs are cut into pieces of this size, fetched concurrently.
PIECE_BYTES = 16 << 20


def is_url(location: object) -> bool:
    """True for an fsspec URL (``proto://...`` or a chained ``a::b://...``); local paths
    (``str``, ``bytes``, ``os.PathLike``) are not. ``file://`` URLs count as URLs."""
    if not isinstance(location, str):
        return False
    head = location.split("::", 1)[0]
    return "::" in location or ("://" in head and head.index("://") > 1)


def _import_fsspec() -> Any:
    from ._frameworks import require

    return require("fsspec", "remote", "reading checkpoints from URLs")


def url_filesystem(url: str, storage_options: dict[str, Any] | None) -> tuple[Any, str, str]:
    """``(filesystem, path, shown)`` for ``url``: fsspec's filesystem and path, and the URL
    as messages show it (``head + protocol://path``, chain kept).

    Raises:
        ImportError: fsspec (or the backend of the URL's protocol) is not installed; the
            message names the pip extra.
    """
    fsspec = _import_fsspec()
    try:
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    except ImportError as err:
        msg = (
            f"{url}: {err} (pip install 'bundlefast[remote]' installs fsspec and s3fs; "
            "other protocols need their fsspec backend)"
        )
        raise ImportError(msg) from err
    head, _, last = url.rpartition("::")
    protocol = last.split("://", 1)[0] if "://" in last else "file"
    shown = (head + "::" if head else "") + protocol + "://" + path
    return fs, path, shown


def cat_whole(fs: Any, path: str, size: int | None) -> bytes:
    """All of object ``path``; with its size known, as one ranged GET (some backends,
    s3fs among them, send a HEAD first for a plain ``cat_file``)."""
    if size is None:
        return bytes(fs.cat_file(path))
    data = bytes(fs.cat_file(path, start=0, end=size)) if size else b""
    if len(data) != size:
        raise OSError(errno.EIO, f"got {len(data)} of {size} bytes (the object changed while read?)")
    return data


def _error(url: str, start: int, end: int, err: BaseException | str) -> BundleOSError:
    """The one error of a failed remote read: the URL, the range, the cause."""
    reason = f"{type(err).__name__}: {err}" if isinstance(err, BaseException) else err
    if isinstance(err, FileNotFoundError):
        return BundleFileNotFoundError(errno.ENOENT, f"{url}: does not exist ({reason})", url)
    return BundleOSError(errno.EIO, f"{url}: bytes [{start}, {end}) could not be read: {reason}", url)


def _check_length(file: RemoteFile, start: int, end: int, data: bytes) -> None:
    if len(data) != end - start:
        raise _error(file.url, start, end, f"got {len(data)} bytes (the object is shorter than when opened?)")


class RemoteFile:
    """One remote object, as the core reads it (``size`` and ``read_into``).

    Ranges fetched ahead (:meth:`RemoteOpener.prefetch`) are served from memory; any
    other range is one ranged request.
    """

    def __init__(self, opener: RemoteOpener, url: str, path: str, size: int) -> None:
        self._opener = opener
        self.url = url
        self.path = path
        self.size = size
        self._lock = threading.Lock()
        # Fetched pieces, sorted by start. Reads running at once may keep overlapping
        # pieces; a range the pieces do not hold in a row is simply fetched.
        self._starts: list[int] = []
        self._pieces: list[bytes] = []

    def keep(self, start: int, data: bytes) -> None:
        with self._lock:
            at = bisect.bisect_left(self._starts, start)
            self._starts.insert(at, start)
            self._pieces.insert(at, data)

    def drop(self, start: int, data: bytes) -> None:
        """Forget one kept piece (the very object :meth:`keep` was given)."""
        with self._lock:
            at = bisect.bisect_left(self._starts, start)
            while at < len(self._starts) and self._starts[at] == start:
                if self._pieces[at] is data:
                    del self._starts[at], self._pieces[at]
                    return
                at += 1

    def holds(self, offset: int, size: int) -> bool:
        """True if kept pieces hold bytes [offset, offset + size)."""
        return self._from_memory(offset, size, None)

    def _from_memory(self, offset: int, n: int, out: memoryview | None) -> bool:
        """Fill ``out`` (``n`` bytes; None: only check) from kept pieces if they hold all
        of it (they may be several)."""
        with self._lock:
            at = bisect.bisect_right(self._starts, offset) - 1
            done = 0
            while done < n and 0 <= at < len(self._starts):
                start, piece = self._starts[at], self._pieces[at]
                pos = offset + done
                if not start <= pos < start + len(piece):
                    return False
                take = min(n - done, start + len(piece) - pos)
                if out is not None:
                    out[done : done + take] = memoryview(piece)[pos - start : pos - start + take]  # no slice copy
                done += take
                at += 1
            return done == n

    def read_into(self, offset: int, out: memoryview) -> None:
        out = out.cast("B")
        if self._from_memory(offset, len(out), out):
            return
        end = offset + len(out)
        data = self._opener.fetch_one(self, offset, end)
        out[:] = data


class _WholeObject(RemoteFile):
    """The ``.index``: fetched whole when opened (one request, no size query); the core
    reads it once, into its own copy."""

    def __init__(self, opener: RemoteOpener, url: str, path: str, data: bytes) -> None:
        super().__init__(opener, url, path, len(data))
        self._data: bytes | None = data

    def read_into(self, offset: int, out: memoryview) -> None:
        data = self._data
        if data is None or offset + len(out) > len(data):
            super().read_into(offset, out)
            return
        out.cast("B")[:] = data[offset : offset + len(out)]
        if offset + len(out) == len(data):
            self._data = None  # read to the end: the core has its copy


@dataclass
class RequestCount:
    """What this opener asked the store for (for tests and benchmarks)."""

    requests: int = 0  # ranged GETs and whole-object reads, not HEADs
    bytes: int = 0


class RemoteOpener:
    """``open_file`` for ``_core.Reader``: maps the core's paths (``<shown prefix>.index``,
    ``<shown prefix>.data-…``) to objects of ``fs`` under ``prefix_path``.

    The index is fetched whole when it is opened (one request, no size query); a data
    shard's size comes from the listing that resolved the prefix (else one HEAD), its
    bytes only as planned reads need them.
    """

    def __init__(self, fs: Any, prefix_path: str, shown_prefix: str, sizes: dict[str, int] | None = None) -> None:
        self.fs = fs
        self.prefix_path = prefix_path
        self.shown_prefix = shown_prefix
        self._sizes = sizes or {}  # from the listing that resolved the prefix: no HEAD per shard
        self.files: dict[str, RemoteFile] = {}
        self.count = RequestCount()
        self._lock = threading.Lock()

    def _path(self, url: str) -> str:
        if not url.startswith(self.shown_prefix):  # the core only opens P.index and P.data-…
            msg = f"{url} is not a file of the checkpoint {self.shown_prefix}"
            raise BundleOSError(errno.EINVAL, msg, url)
        return self.prefix_path + url[len(self.shown_prefix) :]

    def __call__(self, url: str) -> RemoteFile:
        path = self._path(url)
        try:
            if url.endswith(".index"):
                data = cat_whole(self.fs, path, self._sizes.get(path))
                self._counted(len(data))
                file = _WholeObject(self, url, path, data)
            else:
                size = self._sizes.get(path)
                file = RemoteFile(self, url, path, int(self.fs.size(path) if size is None else size))
        except FileNotFoundError as err:
            raise _error(url, 0, 0, err) from None
        except OSError as err:
            raise BundleOSError(errno.EIO, f"{url}: cannot open: {type(err).__name__}: {err}", url) from None
        with self._lock:
            self.files[url] = file
        return file

    def _counted(self, n: int, requests: int = 1) -> None:
        with self._lock:
            self.count.requests += requests
            self.count.bytes += n

    def fetch_one(self, file: RemoteFile, start: int, end: int) -> bytes:
        try:
            data = self.fs.cat_file(file.path, start=start, end=end)
        except Exception as err:  # noqa: BLE001 - any backend failure becomes one clear error
            raise _error(file.url, start, end, err) from None
        self._counted(len(data))
        _check_length(file, start, end, data)
        return data

    def prefetch(self, ranges: Iterable[tuple[RemoteFile, int, int]]) -> list[tuple[RemoteFile, int, bytes]]:
        """Fetch every ``(file, offset, size)`` range now, coalesced and concurrently,
        and keep the bytes until :meth:`release` is given what this returns. All or
        nothing: on any failure nothing is kept and :class:`BundleOSError` names the
        URL and the range. Ranges already held (an enclosing :meth:`Reader.fetched`
        block) are not fetched again."""
        pieces = _pieces((f, offset, size) for f, offset, size in ranges if not f.holds(offset, size))
        if not pieces:
            return []
        files = [f for f, _, _ in pieces]
        starts = [s for _, s, _ in pieces]
        ends = [e for _, _, e in pieces]
        try:
            results = self.fs.cat_ranges([f.path for f in files], starts, ends, on_error="return")
        except Exception as err:  # noqa: BLE001 - see fetch_one
            raise _error(files[0].url, starts[0], ends[-1], err) from None
        self._counted(sum(len(r) for r in results if isinstance(r, bytes)), len(pieces))
        for file, start, end, data in zip(files, starts, ends, results):
            if isinstance(data, BaseException):
                raise _error(file.url, start, end, data)
            _check_length(file, start, end, data)
        kept = list(zip(files, starts, results))
        for file, start, data in kept:
            file.keep(start, data)
        return kept

    def release(self, kept: list[tuple[RemoteFile, int, bytes]]) -> None:
        """Forget bytes :meth:`prefetch` kept (other reads' pieces stay)."""
        for file, start, data in kept:
            file.drop(start, data)


def _pieces(ranges: Iterable[tuple[RemoteFile, int, int]]) -> list[tuple[RemoteFile, int, int]]:
    """``(file, start, end)`` requests covering ``ranges``: per file, ranges closer than
    COALESCE_GAP merged, runs longer than PIECE_BYTES cut."""
    by_file: dict[int, tuple[RemoteFile, list[tuple[int, int]]]] = {}
    for file, offset, size in ranges:
        if size > 0:
            by_file.setdefault(id(file), (file, []))[1].append((offset, offset + size))
    out: list[tuple[RemoteFile, int, int]] = []
    for file, spans in by_file.values():
        spans.sort()
        merged = [list(spans[0])]
        for start, end in spans[1:]:
            if start - merged[-1][1] <= COALESCE_GAP:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        for start, end in merged:
            out.extend((file, s, min(s + PIECE_BYTES, end)) for s in range(start, end, PIECE_BYTES))
    return out


# --------------------------------------------------------------------------------------
# Resolving a URL to a checkpoint prefix (the rules of _prefix.resolve_prefix)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteLocation:
    """A resolved remote checkpoint: its prefix as shown, and the opener of its files."""

    shown_prefix: str
    opener: RemoteOpener


class _Listings:
    """Directory listings, each fetched once: ``{name: (is_dir, size)}``, or None where
    the store cannot list (plain https). One listing answers every "does P.index exist,
    is this a directory, how big is that shard" of a resolution."""

    def __init__(self, fs: Any) -> None:
        self.fs = fs
        self._seen: dict[str, dict[str, tuple[bool, int]] | None] = {}

    def of(self, d: str) -> dict[str, tuple[bool, int]] | None:
        if d not in self._seen:
            try:
                entries = self.fs.ls(d, detail=True)
            except (FileNotFoundError, NotADirectoryError):
                entries = []
            except (NotImplementedError, ValueError, TypeError, OSError):
                entries = None
            self._seen[d] = None if entries is None else {
                posixpath.basename(e["name"].rstrip("/")): (e.get("type") == "directory", int(e.get("size") or 0))
                for e in entries
            }
        return self._seen[d]

    def kind(self, path: str) -> str | None:
        """'file', 'dir' or None (absent); asks the store itself where it cannot list."""
        parent, name = posixpath.split(path)
        listing = self.of(parent)
        if listing is None:
            return "file" if self.fs.isfile(path) else "dir" if self.fs.isdir(path) else None
        if name not in listing:
            return None
        return "dir" if listing[name][0] else "file"

    def sizes(self, d: str) -> dict[str, int]:
        listing = self.of(d) if d in self._seen else None
        return {posixpath.join(d, n): size for n, (is_dir, size) in (listing or {}).items() if not is_dir}


def resolve_url(url: str, storage_options: dict[str, Any] | None = None) -> RemoteLocation:
    """The checkpoint prefix that ``url`` names, as :func:`bundlefast.resolve_prefix` does
    for local paths: a prefix; a ``P.index``/``P.data-…``/``P.meta`` URL; a directory with
    a ``checkpoint`` state file (fetched once), a SavedModel, or exactly one ``*.index``.
    Existence is answered from one listing per directory where the store can list, so a
    prefix costs one request before the index is fetched, a directory three.

    Raises:
        FileNotFoundError (BundleFileNotFoundError): nothing usable at ``url``.
        StateFileError: the state file does not parse.
        ImportError: fsspec or the protocol's backend is missing.
    """
    from ._prefix import data_shard_base

    fs, path, shown = url_filesystem(url, storage_options)
    base_url, path = shown[: len(shown) - len(path)], path.rstrip("/") or path
    listings = _Listings(fs)

    def found(prefix: str) -> RemoteLocation:
        opener = RemoteOpener(fs, prefix, base_url + prefix, listings.sizes(posixpath.dirname(prefix)))
        return RemoteLocation(base_url + prefix, opener)

    try:
        if listings.kind(path + ".index") == "file":
            return found(path)
        name = posixpath.basename(path)
        for suffix in (".index", ".meta"):
            if name.endswith(suffix) and len(name) > len(suffix) and listings.kind(path[: -len(suffix)] + ".index"):
                return found(path[: -len(suffix)])
        stem = data_shard_base(path)
        if stem is not None and listings.kind(stem + ".index") == "file":
            return found(stem)
        if listings.kind(path) == "dir" or (listings.of(posixpath.dirname(path)) is None and fs.isdir(path)):
            return found(_from_directory(fs, listings, path, base_url))
    except BundleFileNotFoundError:
        raise
    except FileNotFoundError as err:
        raise _error(shown, 0, 0, err) from None
    except OSError as err:
        raise BundleOSError(errno.EIO, f"{shown}: cannot be read: {type(err).__name__}: {err}", shown) from None
    raise BundleFileNotFoundError(errno.ENOENT, f"no checkpoint at {shown}: {shown}.index does not exist", shown)


def _from_directory(fs: Any, listings: _Listings, d: str, base_url: str) -> str:
    """The prefix directory ``d`` holds (the rules of ``_prefix._from_directory``)."""
    from ._prefix import STATE_FILENAME

    def not_found(message: str, path: str) -> BundleFileNotFoundError:
        return BundleFileNotFoundError(errno.ENOENT, message, base_url + path)

    listing = listings.of(d) or {}
    state_path = posixpath.join(d, STATE_FILENAME)
    if STATE_FILENAME in listing:
        state_url = base_url + state_path
        state = cat_whole(fs, state_path, listings.sizes(d).get(state_path))
        latest = _parse_state(state, state_url).model_checkpoint_path
        if not latest:
            raise not_found(f"{state_url} has an empty model_checkpoint_path", state_path)
        # Relative: joined onto d. Absolute (TF1 Saver): as written, else the directory was
        # moved or copied after saving and the checkpoint sits in d under its base name.
        candidates = [posixpath.normpath(posixpath.join(d, latest))]
        if latest.startswith("/"):
            candidates = [latest, posixpath.join(d, posixpath.basename(latest))]
        for prefix in candidates:
            if listings.kind(prefix + ".index") == "file":
                return prefix
        raise not_found(f"{state_url} names checkpoint {latest!r}, but its .index does not exist", candidates[-1])
    if "saved_model.pb" in listing or "saved_model.pbtxt" in listing:
        variables = posixpath.join(d, "variables", "variables")
        if listings.kind(variables + ".index") == "file":
            return variables
        raise not_found(f"{base_url}{d} is a SavedModel directory without {variables}.index", variables + ".index")
    bundles = sorted(n[: -len(".index")] for n, (is_dir, _) in listing.items() if n.endswith(".index") and not is_dir)
    if len(bundles) == 1:
        return posixpath.join(d, bundles[0])
    if bundles:
        msg = f"{base_url}{d} holds {len(bundles)} bundles ({', '.join(bundles[:10])}) and no state file; pass one"
    else:
        msg = f"no checkpoint in {base_url}{d}: no state file, no SavedModel, no .index file"
    raise not_found(msg, d)


def _parse_state(data: bytes, url: str) -> Any:
    """The ``CheckpointState`` in the bytes of the state file at ``url`` (StateFileError naming it)."""
    from ._state_file import parse_state_bytes

    return parse_state_bytes(data, url)


def remote_checkpoint_state(url: str, latest_filename: str | None, storage_options: dict[str, Any] | None) -> Any:
    """``get_checkpoint_state`` for a directory URL: the ``checkpoint`` state file's
    ``CheckpointState`` with relative paths joined onto the directory URL (absolute ones
    kept as written, as TF does), or None if it is missing or does not parse (logged).

    Raises:
        ValueError: an empty ``model_checkpoint_path`` (TF's message).
    """
    import logging

    from ._prefix import STATE_FILENAME, StateFileError

    fs, path, shown = url_filesystem(url, storage_options)
    d = path.rstrip("/")
    base_url = shown[: len(shown) - len(path)]
    state_url = base_url + posixpath.join(d, latest_filename or STATE_FILENAME)
    try:
        data = fs.cat_file(posixpath.join(d, latest_filename or STATE_FILENAME))
    except FileNotFoundError:
        return None
    except OSError as err:
        logging.getLogger("bundlefast").warning("%s: %s; checkpoint state ignored", state_url, err)
        return None
    try:
        state = _parse_state(data, state_url)
    except StateFileError as err:
        logging.getLogger("bundlefast").warning("%s; checkpoint state ignored", err)
        return None
    if not state.model_checkpoint_path:
        raise ValueError("Invalid checkpoint state loaded from " + url)

    def joined(p: str) -> str:
        return p if p.startswith("/") or is_url(p) else base_url + posixpath.join(d, p)

    state.model_checkpoint_path = joined(state.model_checkpoint_path)
    state.all_model_checkpoint_paths = [joined(p) for p in state.all_model_checkpoint_paths]
    return state


def remote_index_exists(prefix_url: str, storage_options: dict[str, Any] | None) -> bool:
    """True if ``<prefix_url>.index`` exists."""
    fs, path, _ = url_filesystem(prefix_url, storage_options)
    return bool(fs.exists(path + ".index"))
