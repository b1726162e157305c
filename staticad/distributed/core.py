"""Client side of ``sad.distributed.gradients``: the graph document, sharding the feeds, one
task per shard and a tree reduction of the partial sums (API.md §11)."""
from __future__ import annotations

import weakref

import numpy as np

from .. import serialize
from ..graph import Tensor
from . import worker as _worker

REDUCTIONS = ("sum", "mean")


def get_client(client=None):
    """``client``, else the default Dask client; a clear error when there is none."""
    if client is not None:
        return client
    try:
        from distributed import get_client as _get
        return _get()
    except ValueError:
        raise ValueError("sad.distributed needs a Dask client: pass client=... or create "
                         "distributed.Client(...) first") from None


class ShardProgram:
    """The per-shard graph ``feeds -> [loss, *grads]`` as a document, and what each step sends.

    The document travels to the workers once per client (scattered to every worker and kept);
    each worker compiles it once. ``variables`` are the Variables it reads, in document order:
    their current values go with every step (see ``docs/scaling.md`` for how).
    """

    def __init__(self, loss, wrt, placeholders, reduction, backend):
        from ..autodiff import grad
        from ..function import _check_inputs

        if not isinstance(loss, Tensor) or loss.shape != ():
            raise ValueError("sad.distributed: loss must be a scalar graph tensor (a sum or mean over axis 0)")
        if reduction not in REDUCTIONS:
            raise ValueError(f"sad.distributed: reduction must be 'sum' or 'mean', got {reduction!r}")
        self.single = isinstance(wrt, Tensor)
        self.wrt = [wrt] if self.single else list(wrt)
        self.placeholders = _check_inputs(list(placeholders))
        for p in self.placeholders:
            if not p.shape or p.shape[0] is not None:
                raise ValueError(f"sad.distributed: fed placeholder {p.name!r} needs an example axis 0 of "
                                 "size None (shards have different sizes)")
        grads = grad(loss, self.wrt)
        self.text, self.variables = serialize.encode([loss] + list(grads), inputs=self.placeholders,
                                                     name=f"shard_{loss.name}")
        self.hash = serialize.document_hash(self.text)
        self.reduction, self.backend = reduction, backend
        self.loss_dtype = loss.dtype
        self.grad_dtypes = [g.dtype for g in grads]
        self._doc_futures: dict = {}  # id(client) -> (client, future of the document text)

    def document_future(self, client):
        """The document scattered to every worker once (a replica survives a worker's death)."""
        held = self._doc_futures.get(id(client))
        if held is None or held[0] is not client or held[1].status != "finished":
            fut = client.scatter(self.text, broadcast=True, hash=False)
            held = self._doc_futures[id(client)] = (client, fut)
        return held[1]

    def variable_values(self) -> list:
        return [v._storage for v in self.variables]

    def finish(self, total):
        """The reduced ``(rows, loss, grads)`` as the user's dtypes (a mean divided by all rows)."""
        rows, loss, grads = total
        div = float(rows) if self.reduction == "mean" else 1.0
        loss = np.asarray(loss / div, dtype=self.loss_dtype)
        grads = [np.asarray(g / div, dtype=dt) for g, dt in zip(grads, self.grad_dtypes)]
        return loss, (grads[0] if self.single else grads)


def shards(client, feeds: dict, placeholders, n_shards=None) -> list:
    """Per shard, the list of its arrays (numpy, or futures of Dask chunks) in ``placeholders`` order.

    Dask arrays keep their chunks along axis 0 (all feeds must share them; other axes are merged
    into one chunk). numpy arrays are split into ``n_shards`` (default: the cluster's threads)
    nearly equal pieces, sent with the tasks (so Dask can rerun them when a worker dies).
    """
    arrays = [feeds[p] for p in placeholders]
    lengths = {int(a.shape[0]) for a in arrays}
    if len(lengths) != 1:
        raise ValueError(f"sad.distributed: feeds differ in length along axis 0: "
                         f"{ {p.name: int(a.shape[0]) for p, a in zip(placeholders, arrays)} }")
    if any(_is_dask(a) for a in arrays):
        import dask.array as da

        arrays = [a if _is_dask(a) else da.from_array(np.asarray(a)) for a in arrays]
        ref = next(a for a in arrays if _is_dask(a)).chunks[0]
        blocks = []
        for a in arrays:
            a = a.rechunk((ref,) + tuple(-1 for _ in a.shape[1:]))
            blocks.append(list(a.to_delayed().reshape(-1)))
        futures = client.compute([b for col in blocks for b in col])
        n = len(ref)
        cols = [futures[i * n:(i + 1) * n] for i in range(len(arrays))]
        return [[col[k] for col in cols] for k in range(n) if ref[k] > 0]
    n = n_shards or max(1, sum(client.nthreads().values()))
    arrays = [np.asarray(a) for a in arrays]
    bounds = np.linspace(0, lengths.pop(), n + 1).round().astype(int)
    return [[a[lo:hi] for a in arrays] for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]


def _is_dask(a) -> bool:
    return hasattr(a, "__dask_graph__") and hasattr(a, "chunks")


def reduce_tree(client, parts: list):
    """Pairwise sums on the workers, ceil(log2(n)) levels; returns the future of the total."""
    if not parts:
        raise ValueError("sad.distributed: the feeds have no rows")
    while len(parts) > 1:
        nxt = [client.submit(_worker.add, a, b, pure=False) for a, b in zip(parts[0::2], parts[1::2])]
        if len(parts) % 2:
            nxt.append(parts[-1])
        parts = nxt
    return parts[0]


def run_shards(client, prog: ShardProgram, shard_list, variables="args"):
    """Submit one task per shard and the reduction; returns the future of ``(rows, loss, grads)``.

    ``variables``: ``"args"`` sends the Variables' values inside every task, ``"scatter"`` sends
    them to every worker once per step (one copy per worker instead of one per shard).
    """
    values = prog.variable_values()
    if variables == "scatter":
        values = client.scatter(values, broadcast=True, hash=False)
    elif variables != "args":
        raise ValueError(f"sad.distributed: variables must be 'args' or 'scatter', got {variables!r}")
    doc = prog.document_future(client)
    parts = [client.submit(_worker.shard_gradients, prog.hash, doc, prog.backend, prog.reduction == "mean",
                           values, *arrays, pure=False) for arrays in shard_list]
    return reduce_tree(client, parts)


def gradients(loss, wrt, feeds, client=None, reduction="sum", backend="numba", n_shards=None, variables="args"):
    """Loss and gradients over all of ``feeds``, computed shard by shard on the Dask workers.

    ``loss``: a scalar tensor that is a sum (``reduction="sum"``) or a mean (``"mean"``) over axis 0
    of the fed placeholders; ``wrt``: a tensor or a list (the gradients mirror it); ``feeds``: dict
    placeholder -> Dask array chunked along axis 0, or numpy array (split into ``n_shards``).
    Returns ``(loss_value, grads)`` as numpy arrays; a mean is weighted by shard size.
    """
    client = get_client(client)
    feeds = _check_feeds(feeds)
    prog = _program(loss, wrt, list(feeds), reduction, backend)
    total = run_shards(client, prog, shards(client, feeds, prog.placeholders, n_shards), variables)
    return prog.finish(total.result())


def _check_feeds(feeds) -> dict:
    if not isinstance(feeds, dict) or not feeds:
        raise TypeError("sad.distributed: feeds must be a non-empty dict placeholder -> array")
    for p in feeds:
        if not isinstance(p, Tensor) or p.op.name != "placeholder":
            raise TypeError(f"sad.distributed: feed key {getattr(p, 'name', p)!r} is not a placeholder")
    return dict(feeds)




# One ShardProgram per loss (same wrt, feeds, reduction, backend): repeated calls send the same
# document, so the workers' compiled functions are reused although the Variables change.
_PROGRAMS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _program(loss, wrt, placeholders, reduction, backend) -> ShardProgram:
    key = (tuple(wrt) if isinstance(wrt, (list, tuple)) else wrt, tuple(placeholders), reduction, backend)
    held = _PROGRAMS.get(loss) if isinstance(loss, Tensor) else None
    if held is not None and held[0] == key:
        return held[1]
    prog = ShardProgram(loss, wrt, placeholders, reduction, backend)
    _PROGRAMS[loss] = (key, prog)
    return prog
