"""Backends behind one contract (:mod:`.base`): a backend module has ``NAME``, ``OPTIMIZES``,
``REBINDS`` and ``compile_plan(plan, options) -> Executable``; :mod:`staticad.compiler` runs the
passes and calls it.
"""
from __future__ import annotations

import importlib

_MODULES = {"numpy": "numpy_backend", "numba": "numba_backend", "cuda": "cuda_backend"}


def available() -> list:
    return list(_MODULES)


def get(name: str):
    """The backend module for ``name``; a clear error for unknown or unavailable backends."""
    if not isinstance(name, str) or name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(available())}")
    return importlib.import_module(f"{__name__}.{_MODULES[name]}")
