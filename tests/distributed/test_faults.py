"""Faults: a worker killed mid-step (Dask reruns its tasks; the result is still exact) and a graph
document that does not load on the workers (a clear error naming the worker; no Variable changes)."""
import operator
import os
import signal
import threading
import time

import numpy as np
import pytest

import staticad as sad
from staticad.registry import REGISTRY, defop

dsd = pytest.importorskip("staticad.distributed")
da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")


def linreg():
    rng = np.random.default_rng(7)
    x = sad.placeholder((None, 2), "float64", name="x")
    y = sad.placeholder((None, 1), "float64", name="y")
    w = sad.Variable(rng.normal(size=(2, 1)), name="w")
    b = sad.Variable(np.zeros(1), name="b")
    loss = ((x @ w + b - y) ** 2).mean()
    return x, y, w, b, loss, rng.normal(size=(20, 2)), rng.normal(size=(20, 1))


def slow_chunks(arr, chunk, slow_index, seconds):
    """A Dask array whose chunk ``slow_index`` is only ready after ``seconds`` (builtins only, so
    the workers need no test code): the window in which the test kills the worker computing it."""
    blocks = []
    for k, lo in enumerate(range(0, len(arr), chunk)):
        part = arr[lo:lo + chunk]
        if k == slow_index:
            lazy = dask.delayed(operator.getitem)((dask.delayed(time.sleep)(seconds), part), 1)
        else:
            lazy = dask.delayed(part)
        blocks.append(da.from_delayed(lazy, shape=part.shape, dtype=arr.dtype))
    return da.concatenate(blocks)


def test_worker_killed_mid_step_gives_the_exact_result(client):
    x, y, w, b, loss, xv, yv = linreg()
    want = sad.function([x, y], [loss, sad.grad(loss, [w, b])], backend="numba")(xv, yv)
    clean = dsd.gradients(loss, [w, b], {x: da.from_array(xv, chunks=(5, 2)), y: da.from_array(yv, chunks=(5, 1))},
                          client=client, reduction="mean")
    feeds = {x: slow_chunks(xv, 5, 2, 3.0), y: da.from_array(yv, chunks=(5, 1))}
    result, killed = {}, []
    thread = threading.Thread(target=lambda: result.update(
        out=dsd.gradients(loss, [w, b], feeds, client=client, reduction="mean")))
    thread.start()
    deadline = time.monotonic() + 30
    while not killed and time.monotonic() < deadline:  # find the worker sleeping in the slow chunk
        for addr, keys in client.processing().items():
            if any("sleep" in str(k) for k in keys):
                pid = client.run(os.getpid, workers=[addr])[addr]
                os.kill(pid, signal.SIGKILL)
                killed.append(addr)
                break
        time.sleep(0.05)
    thread.join(60)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the next tests
    assert killed, "the slow chunk never started: the kill did not happen mid-step"
    loss_v, grads = result["out"]
    assert loss_v == clean[0] and all(np.array_equal(g, c) for g, c in zip(grads, clean[1]))  # bit for bit
    np.testing.assert_allclose(loss_v, want[0], rtol=1e-10)
    for g, r in zip(grads, want[1]):
        np.testing.assert_allclose(g, r, rtol=1e-10)


def _client_only_op():
    """An op registered in this process only: the workers' registries lack it, so they cannot
    load a document using it (as with a user's custom op not installed on the cluster)."""
    name = "test_client_only_double"
    if name not in REGISTRY:
        defop(name, lambda x: (x.shape, x.dtype), lambda x: 2 * x,
              vjp=lambda g, out, x: [g * 2], jvp=lambda ts, out, x: ts[0] * 2)
    return REGISTRY[name]


@pytest.fixture
def client_only_op():
    op = _client_only_op()
    yield op
    REGISTRY.pop(op.name, None)  # other tests see the real registry (every op has a derivative test)


def test_document_failing_on_workers_names_the_worker_and_changes_nothing(client, client_only_op):
    from staticad.graph import apply

    x, y, w, b, loss, xv, yv = linreg()
    loss2 = apply(client_only_op, (loss,))
    dp = dsd.DataParallel(loss2, [w, b], sad.optim.Adam(0.1), client=client, reduction="mean")
    before = [w.value, b.value] + [v.value for v in dp._apply.program.variables()]
    workers = set(client.scheduler_info()["workers"])
    with pytest.raises(dsd.GraphLoadError) as info:
        dp.step({x: xv, y: yv})
    msg = str(info.value)
    assert "failed to load" in msg and "unknown op 'test_client_only_double'" in msg
    assert any(addr in msg for addr in workers)
    after = [w.value, b.value] + [v.value for v in dp._apply.program.variables()]
    assert all(np.array_equal(p, q) for p, q in zip(before, after))  # nothing applied, Adam state included
