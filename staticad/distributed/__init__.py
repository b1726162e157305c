"""Scale-out on Dask (API.md §11; optional extra ``staticad[distributed]``).

``gradients(loss, wrt, feeds, client=None, reduction="sum")`` and
``DataParallel(loss, params, optimizer, client=None, reduction="mean")``. Graphs travel to the
workers as their JSON document (``sad.save``'s format, never pickled); each worker compiles a
document once and reuses it (:mod:`staticad.distributed.worker`).
"""
try:
    import distributed as _distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("sad.distributed needs Dask: pip install 'staticad[distributed]'") from exc

from .core import gradients  # noqa: E402
from .data_parallel import DataParallel  # noqa: E402
from .worker import GraphLoadError  # noqa: E402

__all__ = ["gradients", "DataParallel", "GraphLoadError"]
