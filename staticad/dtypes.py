"""Dtype rules: numpy's promotion with weakly typed Python scalars (NEP 50).

A Python scalar next to a tensor takes the tensor's dtype (``x * 2`` keeps
float32); on its own a Python float defaults to float32, like placeholders.
"""
from __future__ import annotations

import numbers

import numpy as np

DEFAULT_FLOAT = np.dtype("float32")
DEFAULT_INT = np.dtype("int64")
BOOL = np.dtype("bool")


def as_dtype(dtype) -> np.dtype:
    """Normalise a dtype spec (string, numpy type, np.dtype) to ``np.dtype``."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"not a dtype: {dtype!r}") from exc
    if dt.kind not in "biuf":
        raise TypeError(f"unsupported dtype {dt}: staticad supports bool, integer and float tensors")
    return dt


def is_float(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def is_python_scalar(value) -> bool:
    return isinstance(value, (bool, numbers.Number, np.generic)) and not isinstance(value, complex)


def default_dtype_for_python(value) -> np.dtype:
    """Dtype of Python data with no tensor beside it: floats float32, ints int64."""
    arr = np.asarray(value)
    if arr.dtype.kind == "f" and not isinstance(value, (np.ndarray, np.generic)):
        return DEFAULT_FLOAT
    if arr.dtype.kind in "iu" and not isinstance(value, (np.ndarray, np.generic)):
        return DEFAULT_INT
    return arr.dtype


def result_dtype(*operands) -> np.dtype:
    """numpy's result dtype where operands are dtypes (strong) or Python scalars (weak)."""
    strong = [np.dtype(o) for o in operands if not is_python_scalar(o) or isinstance(o, np.generic)]
    weak = [o for o in operands if is_python_scalar(o) and not isinstance(o, np.generic)]
    if not strong:
        return np.result_type(*[default_dtype_for_python(w) for w in weak])
    return np.result_type(*strong, *weak)


def float_result(dtype) -> np.dtype:
    """The float dtype an integer/bool input is promoted to by float-valued ops (sin, divide...)."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return dt
    return np.dtype("float64") if dt.itemsize >= 4 and dt.kind in "iu" else DEFAULT_FLOAT
