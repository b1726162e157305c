"""Control flow inside the graph: ``cond``, ``while_loop``, ``fori_loop`` (API.md §3)."""
from .api import cond, fori_loop, while_loop  # noqa: F401
from .subgraph import SubGraph  # noqa: F401
from . import batching as _batching  # noqa: F401,E402  (registers the batching rules)
from . import rules as _rules  # noqa: F401,E402  (registers the derivative rules of the control ops)
