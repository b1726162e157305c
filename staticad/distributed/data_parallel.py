"""``sad.distributed.DataParallel``: gradients of every batch reduced across the Dask workers,
the optimizer's update applied once, on the client, to the user's Variables."""
from __future__ import annotations

import warnings

import numpy as np

from .. import ops
from ..function import function
from ..graph import Variable, placeholder
from . import core


class DataParallel:
    """Data-parallel training of ``params`` (Variables) on ``loss``.

    ``optimizer`` is a ``sad.optim`` optimizer (SGD, Adam: its state lives in Variables on the
    client). ``step(feeds)`` computes the loss and gradients of one batch on the workers
    (:func:`staticad.distributed.gradients`) and then applies the update once; the parameters
    follow the same path as one process running ``optimizer.updates(loss, params)`` on the same
    batches. A step that fails changes no Variable.
    """

    def __init__(self, loss, params, optimizer, client=None, reduction="mean", backend="numba",
                 n_shards=None, variables="args"):
        self.params = list(params)
        for p in self.params:
            if not isinstance(p, Variable):
                raise TypeError(f"DataParallel: param {getattr(p, 'name', p)!r} is not a sad.Variable")
        self.client = core.get_client(client)
        self.loss = loss
        self.placeholders = sorted({n for n in _placeholders(loss)}, key=lambda p: p.name)
        self.program = core.ShardProgram(loss, self.params, self.placeholders, reduction, backend)
        self.n_shards, self.variables = n_shards, variables
        # The update as a function of the reduced gradients: d/dp sum(p * g) is exactly g, so the
        # optimizer's own update rule (momentum, Adam moments, step count) runs unchanged.
        self.grad_inputs = [placeholder(p.shape, p.dtype, name=f"grad_{i}") for i, p in enumerate(self.params)]
        surrogate = sum((ops.sum(p * g) for p, g in zip(self.params, self.grad_inputs)), ops.zeros((), loss.dtype))
        self._apply = function(self.grad_inputs, None, updates=optimizer.updates(surrogate, self.params),
                               backend=backend, name="apply_gradients")

    def gradients(self, feeds, shards=None):
        """``(loss, grads)`` of one batch on the workers; changes nothing."""
        feeds = self._feeds(feeds)
        shard_list = shards if shards is not None else core.shards(self.client, feeds, self.placeholders,
                                                                   self.n_shards)
        total = core.run_shards(self.client, self.program, shard_list, self.variables).result()
        return self.program.finish(total)

    def step(self, feeds, shards=None):
        """One training step on a batch; returns its loss (before the update)."""
        loss, grads = self.gradients(feeds, shards)
        self._apply(*grads)  # only now, after every shard and the reduction succeeded
        return loss

    def fit(self, feeds, epochs=1, batch_size=None, progress=True):
        """``epochs`` passes over ``feeds`` (numpy arrays) in batches of ``batch_size`` rows, in order
        (the last batch may be shorter). The data are split into shards once and kept on the workers
        (as Dask chunks, which Dask can recompute if a worker dies). Returns the losses per step."""
        feeds = self._feeds(feeds)
        arrays = [np.asarray(feeds[p]) for p in self.placeholders]
        n = int(arrays[0].shape[0])
        batch_size = n if batch_size is None else int(batch_size)
        if batch_size < 1:
            raise ValueError(f"DataParallel.fit: batch_size must be >= 1, got {batch_size}")
        per_batch = self._batch_shards(arrays, n, batch_size)
        losses = []
        bar = _progress(epochs * len(per_batch)) if progress else None
        try:
            for _ in range(epochs):
                for shard_list in per_batch:
                    losses.append(self.step(None, shards=shard_list))
                    if bar is not None:
                        bar(float(losses[-1]))
        finally:
            if bar is not None:
                bar(None)
        return losses

    def _batch_shards(self, arrays, n, batch_size):
        import dask.array as da

        k = self.n_shards or max(1, sum(self.client.nthreads().values()))
        sizes, counts = [], []
        for lo in range(0, n, batch_size):
            rows = min(batch_size, n - lo)
            part = [int(s) for s in np.diff(np.linspace(0, rows, min(k, rows) + 1).round().astype(int))]
            sizes += part
            counts.append(len(part))
        cols = []
        with warnings.catch_warnings():
            # the data go into the task graph on purpose: Dask can then recompute a chunk that was
            # on a worker that died (scattered data would be lost with it)
            warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
            for a in arrays:
                d = da.from_array(a, chunks=(tuple(sizes),) + a.shape[1:])
                cols.append(self.client.compute(list(d.to_delayed().reshape(-1))))
        out, start = [], 0
        for c in counts:
            out.append([[col[i] for col in cols] for i in range(start, start + c)])
            start += c
        return out

    def _feeds(self, feeds):
        if feeds is None:
            return None
        feeds = core._check_feeds(feeds)
        if set(feeds) != set(self.placeholders):
            raise ValueError(f"DataParallel: feeds must be the loss's placeholders "
                             f"({', '.join(p.name for p in self.placeholders)}); got "
                             f"{', '.join(p.name for p in feeds)}")
        return feeds


def _placeholders(loss):
    from ..graph import walk
    return [n for n in walk([loss]) if n.op.name == "placeholder"]


def _progress(total):
    """A progress bar (tqdm or rich, when installed) as ``update(loss)`` / ``update(None)`` to close."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        bar = tqdm(total=total, desc="DataParallel", unit="step")

        def update(loss):
            if loss is None:
                bar.close()
            else:
                bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                bar.update(1)
        return update
    try:
        from rich.progress import Progress
    except ImportError:
        return None
    prog = Progress()
    task = prog.add_task("DataParallel", total=total)
    prog.start()

    def update_rich(loss):
        if loss is None:
            prog.stop()
        else:
            prog.update(task, advance=1, description=f"DataParallel loss {loss:.4g}")
    return update_rich
