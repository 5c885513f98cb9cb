"""TensorFlow DataType enum -> TF's name and the NumPy dtype ``get_tensor`` returns.

The one dtype table is the core's (``csrc/dtype.cc``); this module only asks it. Nothing
is resolved at import, and ml_dtypes (bfloat16, float8, int4, ...: about a second to
import) is imported only when a tensor or a query needs one of its types.
"""

from __future__ import annotations

from typing import Any

from . import _core

NUM_DTYPES: int = _core.NUM_DTYPES


def known_enums() -> list[int]:
    """Every DataType value the core knows (DT_INVALID excluded)."""
    return [e for e in range(NUM_DTYPES) if _core.dtype_python_name(e)]


def numpy_dtype(enum: int) -> Any:
    """The NumPy dtype for a DataType value, or None if there is none (variant, resource)."""
    return _core.numpy_dtype(enum)


def tf_name(enum: int) -> str:
    """TF's Python name of a DataType value ('float32', 'qint8', ...)."""
    return _core.dtype_python_name(enum) or f"dtype_{enum}"


def enum_named(name: str) -> int | None:
    """The DataType value whose TF name is ``name``, or None."""
    return next((e for e in known_enums() if _core.dtype_python_name(e) == name), None)


def enums_of_numpy_name(name: str) -> list[int]:
    """The DataType values whose arrays have NumPy dtype name ``name`` ('float32',
    'bfloat16', ...), in enum order; compared by name, so ml_dtypes is not imported."""
    return [e for e in known_enums() if _core.dtype_numpy_name(e) == name]


def needs_ml_dtypes(enum: int) -> bool:
    """True if the NumPy type of a DataType value comes from ml_dtypes (bfloat16, ...)."""
    return _core.dtype_from_ml_dtypes(enum)
