"""DataParallel on a 2-process LocalCluster: TinyModel and linear regression trained data-parallel
reach the parameters one process reaches on the same batches (float32 1e-5, float64 1e-10)."""
import numpy as np
import pytest

import staticad as sad

dsd = pytest.importorskip("staticad.distributed")


def tiny_model(seed=0):
    """The tutorials' TinyModel (003): Linear(1000, 100), relu, Linear(100, 10), float32, with the
    squared error summed over outputs and averaged over the batch; 40 examples."""
    rng = np.random.default_rng(seed)
    x = sad.placeholder((None, 1000), name="x")
    t = sad.placeholder((None, 10), name="target")
    k1, k2 = 1 / np.sqrt(1000), 1 / np.sqrt(100)  # torch.nn.Linear's init
    params = [sad.Variable(rng.uniform(-k1, k1, (1000, 100)).astype("float32"), name="layer1.weight"),
              sad.Variable(rng.uniform(-k1, k1, 100).astype("float32"), name="layer1.bias"),
              sad.Variable(rng.uniform(-k2, k2, (100, 10)).astype("float32"), name="layer2.weight"),
              sad.Variable(rng.uniform(-k2, k2, 10).astype("float32"), name="layer2.bias")]
    W1, b1, W2, b2 = params
    loss = ((sad.relu(x @ W1 + b1) @ W2 + b2 - t) ** 2).sum(axis=1).mean()
    data = {x: rng.normal(size=(40, 1000)).astype("float32"), t: rng.normal(size=(40, 10)).astype("float32")}
    return loss, params, data


def linreg(seed=0):
    rng = np.random.default_rng(seed)
    x = sad.placeholder((None, 2), "float64", name="x")
    y = sad.placeholder((None, 1), "float64", name="y")
    params = [sad.Variable(np.zeros((2, 1)), name="w"), sad.Variable(np.zeros(1), name="b")]
    loss = ((x @ params[0] + params[1] - y) ** 2).mean()
    xv = rng.normal(size=(37, 2))
    data = {x: xv, y: xv @ np.array([[2.0], [-1.0]]) + 1.0 + 0.1 * rng.normal(size=(37, 1))}
    return loss, params, data


def single_process(make, optimizer, epochs, batch_size):
    """The reference: one process, optimizer.updates compiled into one training step."""
    loss, params, data = make()
    phs = list(data)
    step = sad.function(phs, loss, updates=optimizer.updates(loss, params), backend="numba")
    n = len(next(iter(data.values())))
    losses = [step(*[data[p][lo:lo + batch_size] for p in phs])
              for _ in range(epochs) for lo in range(0, n, batch_size)]
    return losses, [p.value for p in params]


def assert_same_training(got_losses, got_params, want_losses, want_params, rtol):
    assert len(got_losses) == len(want_losses)
    np.testing.assert_allclose(np.array(got_losses, float), np.array(want_losses, float), rtol=rtol)
    for g, w in zip(got_params, want_params):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * np.abs(w).max())
    assert not np.array_equal(want_params[0], np.zeros_like(want_params[0]))  # training moved them


@pytest.mark.parametrize("make, opt, rtol", [
    (tiny_model, lambda: sad.optim.SGD(0.01, momentum=0.9), 1e-5),
    (linreg, lambda: sad.optim.Adam(0.1), 1e-10),
])
def test_fit_matches_one_process_on_the_same_batches(client, make, opt, rtol):
    want_losses, want_params = single_process(make, opt(), epochs=3, batch_size=16)  # last batch ragged
    loss, params, data = make()
    dp = dsd.DataParallel(loss, params, opt(), client=client, reduction="mean")
    losses = dp.fit(data, epochs=3, batch_size=16, progress=False)
    assert_same_training(losses, [p.value for p in params], want_losses, want_params, rtol)


def test_step_on_the_whole_data_in_five_ragged_shards(client):
    want_losses, want_params = single_process(linreg, sad.optim.SGD(0.01), epochs=4, batch_size=37)
    loss, params, data = linreg()
    dp = dsd.DataParallel(loss, params, sad.optim.SGD(0.01), client=client, reduction="mean", n_shards=5)
    losses = [dp.step(data) for _ in range(4)]
    assert_same_training(losses, [p.value for p in params], want_losses, want_params, 1e-10)
