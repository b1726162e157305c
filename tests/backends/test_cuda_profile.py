"""``with sad.profile()`` around real calls of a cuda function: one row and one Chrome-trace event
per kernel call, and the calls' Variable updates apply (f.profile's do not).

Without a GPU this runs on numba's CUDA simulator (tests/backends/conftest.py selects it).
"""
import numpy as np
import pytest

import staticad as sad
from staticad.backends import cuda_backend

pytestmark = pytest.mark.skipif(not cuda_backend.is_available(),
                                reason=f"no CUDA GPU or simulator: {cuda_backend.unavailable_reason()}")


def _step(backend):
    rng = np.random.default_rng(3)
    w = sad.Variable(rng.standard_normal((4, 2)).astype("float32"), name="w")
    x = sad.placeholder((None, 4), name="x")
    loss = (sad.tanh(x @ w) ** 2).sum()
    return w, sad.function([x], loss, updates=sad.optim.SGD(0.1).updates(loss, [w]), backend=backend)


def test_session_times_each_cuda_kernel_and_applies_updates():
    w, step = _step("cuda")
    w_ref, ref = _step("numpy")
    X = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    with sad.profile() as p:
        losses = [step(X) for _ in range(2)]
    ref_losses = [ref(X) for _ in range(2)]
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    np.testing.assert_allclose(w.value, w_ref.value, rtol=1e-5)  # both updates applied
    names = {r.name for r in p.rows}
    assert "entry" not in names and any(n.startswith("kernel") for n in names)
    assert all(r.calls == 2 for r in p.rows)
    report = p.report()
    assert report.kernel_seconds <= report.wall_seconds
    events = p.chrome_trace()["traceEvents"]
    assert len(events) == sum(r.calls for r in p.rows)
    # f.profile of the same function changes no Variable
    before = w.value
    step.profile(X, repeat=2)
    np.testing.assert_array_equal(w.value, before)
