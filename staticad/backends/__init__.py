"""Backends behind one interface: ``compile_program(program) -> executable``.

An executable has ``run(arrays) -> (outputs, update_values)`` and ``source``; it may set
``kernels``, ``fused_ops``, ``cache_hit`` and ``program`` (the graph after its passes).
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
