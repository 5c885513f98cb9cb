"""Optional dependencies, imported only by the code that needs them."""

from __future__ import annotations

import importlib
from types import ModuleType


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
