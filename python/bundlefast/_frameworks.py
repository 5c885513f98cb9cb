"""What the framework modules (``bundlefast.torch``, ``bundlefast.jax``) share: the lazy
import that names the pip extra, and choosing the tensors a framework can hold."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import UnsupportedError

if TYPE_CHECKING:
    from ._reader import Reader, TensorInfo

T = TypeVar("T")


def import_framework(module: str) -> Any:
    """``import module``, or an ImportError saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:  # pragma: no cover - depends on the environment
        msg = f"bundlefast.{module} needs {module}: pip install 'bundlefast[{module}]'"
        raise ImportError(msg) from err


def no_strings(info: TensorInfo, framework: str) -> None:
    """Raise UnsupportedError for a string or variant tensor (no framework holds those)."""
    if info.dtype is None or info.dtype == object:
        msg = f"{info.name!r}: a {info.tf_dtype} tensor has no {framework} equivalent"
        raise UnsupportedError(msg)


def holdable(
    reader: Reader, names: Iterable[str] | None, convert: Callable[[TensorInfo], T]
) -> dict[str, tuple[TensorInfo, T]]:
    """``{name: (info, convert(info))}`` for ``names``; all tensors by default, leaving
    out those ``convert`` refuses with UnsupportedError (raised for a name asked for)."""
    out: dict[str, tuple[TensorInfo, T]] = {}
    for name in reader if names is None else names:
        info = reader.info(name)
        try:
            out[name] = (info, convert(info))
        except UnsupportedError:
            if names is not None:
                raise
    return out
