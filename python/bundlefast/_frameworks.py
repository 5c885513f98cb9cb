"""What the framework modules (``bundlefast.torch``, ``bundlefast.jax``) and the
converters (``bundlefast.convert``) share: the one lazy import of an optional dependency,
whose error names the pip extra, and choosing the tensors a framework can hold."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import UnsupportedError

if TYPE_CHECKING:
    from ._reader import Reader, TensorInfo

T = TypeVar("T")


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the pip extra."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """``import module``, or raise MissingExtraError saying which extra to install.

    ``purpose`` completes "... needs <module>", e.g. "writing .safetensors files".
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        msg = f"{purpose} needs the {top} package: pip install 'bundlefast[{extra}]'"
        raise MissingExtraError(msg) from err


def import_framework(module: str) -> Any:
    """``bundlefast.<module>``'s framework (``torch``, ``jax``: each its own extra)."""
    return require(module, module, f"bundlefast.{module}")


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
