"""PyTorch: ``bundlefast.torch.load(prefix)`` -> ``{name: torch.Tensor}``.

Each tensor is **copied** once, from the page cache straight into memory torch allocated
(pinned when the target is a CUDA device), over the same threads ``bundlefast.restore``
uses. The tensors own their memory: writing into one never crashes (a read-only mapping
would) and never changes the checkpoint. bfloat16 and the float8 types become torch's own
dtypes. torch is imported here, on first use of this module: ``pip install bundlefast[torch]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from ._frameworks import holdable, import_framework, no_strings
from .errors import UnsupportedError

if TYPE_CHECKING:
    import torch as _torch

    from ._reader import TensorInfo

__all__ = ["load"]


def _import_torch() -> Any:
    return import_framework("torch")


# torch dtypes NumPy has no type for, read through an integer view of the same width
_VIA_INT = {"bfloat16": "int16", "float8_e4m3fn": "uint8", "float8_e5m2": "uint8",
            "float8_e4m3fnuz": "uint8", "float8_e5m2fnuz": "uint8"}


def _torch_dtype(info: TensorInfo) -> Any:
    """The torch dtype for a tensor's NumPy dtype (UnsupportedError if there is none)."""
    no_strings(info, "torch")
    torch = _import_torch()
    if info.dtype.name in _VIA_INT:
        return getattr(torch, info.dtype.name)
    try:
        return torch.from_numpy(np.empty(0, info.dtype)).dtype
    except TypeError:
        msg = f"{info.name!r}: dtype {info.dtype.name} has no torch equivalent"
        raise UnsupportedError(msg) from None


def numpy_destination(tensor: _torch.Tensor) -> tuple[np.ndarray | None, str]:
    """A writable NumPy view sharing ``tensor``'s memory (None if it has none on the
    CPU), and a description of the tensor for messages. Writing through the view bypasses
    autograd's version counter, like ``load_state_dict`` under ``no_grad`` would not."""
    name = str(tensor.dtype).removeprefix("torch.")
    desc = f"torch {name} {list(tensor.shape)}"
    if tensor.device.type != "cpu":
        return None, f"{desc} on {tensor.device}"
    t = tensor.detach()
    try:
        if name in _VIA_INT:
            import ml_dtypes

            torch = _import_torch()
            return t.view(getattr(torch, _VIA_INT[name])).numpy().view(getattr(ml_dtypes, name)), desc
        return t.numpy(), desc
    except (TypeError, RuntimeError) as err:
        return None, f"{desc} ({err})"


def load(
    prefix: str | os.PathLike[str],
    *,
    names: Iterable[str] | None = None,
    device: Any = "cpu",
    verify: bool = False,
) -> dict[str, _torch.Tensor]:
    """Read tensors of a checkpoint into ``{name: torch.Tensor}`` (copies; see the module).

    Args:
        prefix: as for :func:`bundlefast.open`.
        names: only these tensors; by default every tensor torch can hold (string and
            variant tensors, such as the TF2 object graph, and dtypes torch lacks, such
            as int4, are left out).
        device: ``"cpu"``; a CUDA device reads into pinned memory, then copies to the GPU
            asynchronously; any other torch device gets the CPU tensor moved to it.
        verify: check each tensor's CRC32C while reading.

    Raises:
        UnsupportedError: a named tensor has a dtype torch lacks (string, int4, ...).
        Others as :func:`bundlefast.load`.

    Example:
        >>> state = bundlefast.torch.load("ckpt-1", names=["dense/kernel"])
    """
    torch = _import_torch()
    from ._reader import Reader
    from ._restore import _Job, _write

    device = torch.device(device)
    pinned = device.type == "cuda"
    if pinned and not torch.cuda.is_available():
        msg = f"device {device} asked for, but torch.cuda.is_available() is False"
        raise UnsupportedError(msg)
    with Reader(prefix) as reader:
        out: dict[str, Any] = {}
        jobs = []
        for name, (info, dtype) in holdable(reader, names, _torch_dtype).items():
            tensor = torch.empty(info.shape, dtype=dtype, pin_memory=pinned)
            out[name] = tensor
            dst, _ = numpy_destination(tensor)
            jobs.append(_Job(name, name, dst, None, None))
        _write(reader, jobs, verify)
    if device.type != "cpu":
        out = {name: t.to(device, non_blocking=pinned) for name, t in out.items()}
        if pinned:
            torch.cuda.synchronize(device)
    return out
