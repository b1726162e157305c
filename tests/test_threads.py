"""Calls from several Python threads at once give the single-threaded answers, and lose no update.

A compiled function keeps scratch memory between calls (the numba workspace, the cuda workspace);
calls from several threads must never share it. Functions that update Variables serialize on the
Variables' locks (TF1's ``use_locking``), so concurrent training steps are all applied.
"""
import threading

import numpy as np
import pytest

import staticad as sad

N_THREADS = 8


def _sizes(backend):
    # numba: large enough for the parallel (prange) loops; the cuda simulator runs every GPU
    # thread as a Python thread, so it gets a small size and few calls
    return (400_000, 5) if backend != "cuda" else (256, 1)


def _run_threads(target, n_threads=N_THREADS):
    errors = []
    barrier = threading.Barrier(n_threads)

    def wrapped(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_pure_function_from_threads_gives_single_threaded_values(backend):
    n, calls = _sizes(backend)
    x = sad.placeholder((None,), name="x")
    y = sad.placeholder((None,), name="y")
    out = sad.sin(x) * y + sad.exp(-x * x)
    s = out.sum()
    f = sad.function([x, y], [out, s, sad.grad(s, x)], backend=backend)
    rng = np.random.default_rng(0)
    data = [(rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32))
            for _ in range(N_THREADS)]
    expected = [f(a, b) for a, b in data]
    results = {}

    def work(i):
        a, b = data[i]
        results[i] = [f(a, b) for _ in range(calls)]

    _run_threads(work)
    for i in range(N_THREADS):
        for got in results[i]:
            np.testing.assert_array_equal(got[0], expected[i][0], err_msg=f"{backend}: out, thread {i}")
            np.testing.assert_array_equal(got[2], expected[i][2], err_msg=f"{backend}: grad, thread {i}")
            np.testing.assert_allclose(got[1], expected[i][1], rtol=1e-5, err_msg=f"{backend}: sum, thread {i}")


def test_concurrent_updates_are_all_applied(backend):
    steps = 250 if backend != "cuda" else 5
    v = sad.Variable(np.zeros(3, np.float32), name="counter")
    x = sad.placeholder((3,), name="x")
    step = sad.function([x], (v * x).sum(), updates=[(v, v + 1)], backend=backend)
    ones = np.ones(3, np.float32)

    def work(i):
        for _ in range(steps):
            step(ones)

    _run_threads(work)
    np.testing.assert_array_equal(v.value, np.full(3, N_THREADS * steps, np.float32))


def test_two_functions_sharing_a_variable_lose_no_step(backend):
    steps = 200 if backend != "cuda" else 4
    v = sad.Variable(np.float64(0.0), name="shared_counter")
    x = sad.placeholder((), "float64", name="x")
    add1 = sad.function([x], v + x, updates=[(v, v + 1)], backend=backend)
    add2 = sad.function([x], v * x, updates=[(v, v + 2)], backend=backend)
    read = sad.function([x], v * x, backend=backend)
    seen = []

    def work(i):
        f = (add1, add2, read)[i % 3]
        for _ in range(steps):
            r = f(np.float64(1.0))
            if f is read:
                seen.append(float(r))

    _run_threads(work, n_threads=6)
    # threads 0, 3 run add1; 1, 4 run add2; 2, 5 only read
    assert float(v.value) == 2 * steps * 1 + 2 * steps * 2
    # a reader sees some whole number of completed steps, never a torn or garbage value
    assert all(r == int(r) and 0 <= r <= 6 * steps for r in seen)


@pytest.mark.parametrize("given, want", [
    ({}, {"GOMP_SPINCOUNT": "2000", "KMP_BLOCKTIME": "0"}),
    ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": None, "KMP_BLOCKTIME": None}),
    ({"GOMP_SPINCOUNT": "5"}, {"GOMP_SPINCOUNT": "5", "KMP_BLOCKTIME": "0"}),
])
def test_openmp_workers_spin_briefly_unless_the_user_chose(given, want):
    """Short spins after a parallel loop (no wake-up per call of back-to-back calls, no long
    starving of BLAS threads); the user's own OpenMP settings are left alone."""
    import json
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    env.update(given)
    code = ("import os, json, staticad.backends.numba_backend; "
            "print(json.dumps({k: os.environ.get(k) for k in ('GOMP_SPINCOUNT', 'KMP_BLOCKTIME')}))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == want
