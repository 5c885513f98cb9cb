"""TensorFlow DataType enum -> the NumPy dtype ``get_tensor`` returns for it.

The table is built on first use, not at import: ``import bundlefast`` stays
cheap, and ml_dtypes (bfloat16, float8, int4, ...) is only loaded when a
checkpoint is actually read.
"""

from __future__ import annotations

import threading
from typing import Any

from . import _core

# enum value -> (TF name without "DT_", NumPy type name, or ml_dtypes attribute prefixed "ml:")
# Quantized types come back as their plain integer types, as TF returns them.
_SPEC: dict[int, tuple[str, str | None]] = {
    1: ("float32", "float32"),
    2: ("float64", "float64"),
    3: ("int32", "int32"),
    4: ("uint8", "uint8"),
    5: ("int16", "int16"),
    6: ("int8", "int8"),
    7: ("string", "object"),
    8: ("complex64", "complex64"),
    9: ("int64", "int64"),
    10: ("bool", "bool"),
    11: ("qint8", "int8"),
    12: ("quint8", "uint8"),
    13: ("qint32", "int32"),
    14: ("bfloat16", "ml:bfloat16"),
    15: ("qint16", "int16"),
    16: ("quint16", "uint16"),
    17: ("uint16", "uint16"),
    18: ("complex128", "complex128"),
    19: ("float16", "float16"),
    20: ("resource", None),
    21: ("variant", None),
    22: ("uint32", "uint32"),
    23: ("uint64", "uint64"),
    24: ("float8_e5m2", "ml:float8_e5m2"),
    25: ("float8_e4m3fn", "ml:float8_e4m3fn"),
    26: ("float8_e4m3fnuz", "ml:float8_e4m3fnuz"),
    27: ("float8_e4m3b11fnuz", "ml:float8_e4m3b11fnuz"),
    28: ("float8_e5m2fnuz", "ml:float8_e5m2fnuz"),
    29: ("int4", "ml:int4"),
    30: ("uint4", "ml:uint4"),
    31: ("int2", "ml:int2"),
    32: ("uint2", "ml:uint2"),
    33: ("float4_e2m1fn", "ml:float4_e2m1fn"),
}

NUM_DTYPES = 34
_installed = False
_install_lock = threading.Lock()


def _resolve(spec: str | None) -> Any:
    import numpy as np

    if spec is None:
        return None
    if not spec.startswith("ml:"):
        return np.dtype(spec)
    try:
        import ml_dtypes
    except ImportError:  # pragma: no cover - ml_dtypes is a dependency
        return None
    t = getattr(ml_dtypes, spec[3:], None)
    return None if t is None else np.dtype(t)


def install() -> None:
    """Give the C++ core its enum -> dtype table (once per process)."""
    global _installed
    if _installed:
        return
    with _install_lock:
        if not _installed:
            _core._set_dtype_table([_resolve(_SPEC.get(i, ("", None))[1]) for i in range(NUM_DTYPES)])
            _installed = True


def numpy_dtype(enum: int) -> Any:
    """The NumPy dtype for a DataType value, or None if there is none."""
    return _resolve(_SPEC[enum][1]) if enum in _SPEC else None


def tf_name(enum: int) -> str:
    """TF's Python name of a DataType value ('float32', 'qint8', ...)."""
    return _SPEC[enum][0] if enum in _SPEC else f"dtype_{enum}"


def needs_ml_dtypes(enum: int) -> bool:
    """True if the NumPy type of a DataType value comes from ml_dtypes (bfloat16, ...)."""
    return enum in _SPEC and (_SPEC[enum][1] or "").startswith("ml:")
