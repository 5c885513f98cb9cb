"""JAX: ``bundlefast.jax.load(prefix)`` -> ``{name: jax.Array}``.

Each array is handed to ``jax.device_put`` as the zero-copy view bundlefast reads, so
JAX makes the one copy into its own (immutable) buffers on the device. bfloat16, the float8
types and int4 stay what they are: JAX uses the same ml_dtypes types; 64-bit values stay
64-bit even when ``jax_enable_x64`` is off. (int2/int4/float4 values are kept; JAX clears
the unused high bits of their bytes that TF leaves as they were.) jax is imported
here, on first use of this module: ``pip install bundlefast[jax]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._frameworks import holdable, import_framework, no_strings

if TYPE_CHECKING:
    import jax as _jax

__all__ = ["load"]


def load(
    prefix: str | os.PathLike[str],
    *,
    names: Iterable[str] | None = None,
    device: Any = None,
    verify: bool = False,
) -> dict[str, _jax.Array]:
    """Read tensors of a checkpoint into ``{name: jax.Array}``.

    Args:
        prefix: as for :func:`bundlefast.open`.
        names: only these tensors; by default every tensor JAX can hold (string and
            variant tensors, such as the TF2 object graph, are left out).
        device: a ``jax.Device`` or sharding (``jax.device_put``'s); None: the default device.
        verify: check each tensor's CRC32C before handing it over.

    Raises:
        UnsupportedError: a named tensor is a string or variant tensor.
        Others as :func:`bundlefast.load`.

    Example:
        >>> params = bundlefast.jax.load("ckpt-1", names=["dense/kernel"])
    """
    jax = import_framework("jax")
    from ._reader import Reader

    with Reader(prefix) as reader:
        keep = list(holdable(reader, names, lambda info: no_strings(info, "JAX")))
        arrays = reader.load(keep, verify=verify)
    # 64-bit values keep their dtype also when jax_enable_x64 is off (JAX would truncate
    # them to 32 bits); computations on them then follow JAX's usual rules.
    enable_x64 = jax.enable_x64 if hasattr(jax, "enable_x64") else jax.experimental.enable_x64
    with enable_x64(True):
        return {name: jax.device_put(arrays[name], device) for name in keep}
