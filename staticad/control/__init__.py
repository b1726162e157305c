"""Control flow inside the graph: ``cond``, ``while_loop``, ``fori_loop`` (API.md §3)."""
from .api import cond, fori_loop, while_loop  # noqa: F401
from .subgraph import SubGraph  # noqa: F401
