"""TinyModel (the PyTorch autograd tutorial's 1000-100-10 MLP) and one SGD training step.

For ``staticad compile``; each function below builds the graph anew when called::

    staticad compile examples/tiny_mlp.py:build                  # (inputs, outputs, updates)
    staticad compile examples/tiny_mlp.py:gradients --dot g.dot  # (inputs, outputs)
    staticad compile examples/tiny_mlp.py:train_step --emit-source step.py   # a sad.function

or from Python: ``step = train_step(); loss = step(X, Y)``.
"""
import numpy as np

import staticad as sad

BATCH, DIM_IN, HIDDEN, DIM_OUT = 16, 1000, 100, 10
LR = 0.001


def model(seed=0):
    """Placeholders, parameters and the loss of TinyModel: relu(x @ W1 + b1) @ W2 + b2, summed
    squared error against y. Parameters use torch.nn.Linear's uniform initialisation."""
    rng = np.random.default_rng(seed)
    k1, k2 = 1 / np.sqrt(DIM_IN), 1 / np.sqrt(HIDDEN)
    W1 = sad.Variable(rng.uniform(-k1, k1, (DIM_IN, HIDDEN)).astype(np.float32), name="W1")
    b1 = sad.Variable(rng.uniform(-k1, k1, HIDDEN).astype(np.float32), name="b1")
    W2 = sad.Variable(rng.uniform(-k2, k2, (HIDDEN, DIM_OUT)).astype(np.float32), name="W2")
    b2 = sad.Variable(rng.uniform(-k2, k2, DIM_OUT).astype(np.float32), name="b2")
    x = sad.placeholder((None, DIM_IN), name="x")
    y = sad.placeholder((None, DIM_OUT), name="y")
    prediction = sad.relu(x @ W1 + b1) @ W2 + b2
    loss = ((y - prediction) ** 2).sum()
    return x, y, [W1, b1, W2, b2], loss


def build():
    """One SGD step: ``(inputs, outputs, updates)`` for ``sad.function``."""
    x, y, params, loss = model()
    return [x, y], [loss], sad.optim.SGD(lr=LR).updates(loss, params)


def gradients():
    """The loss and its gradients, no updates: ``(inputs, outputs)``."""
    x, y, params, loss = model()
    return [x, y], [loss, *sad.grad(loss, params)]


def train_step(backend="numba"):
    """The compiled training step (a ``sad.function``)."""
    inputs, outputs, updates = build()
    return sad.function(inputs, outputs, updates=updates, backend=backend, name="tiny_mlp_step")


def data(seed=1):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((BATCH, DIM_IN)).astype(np.float32),
            rng.standard_normal((BATCH, DIM_OUT)).astype(np.float32))


if __name__ == "__main__":
    step = train_step()
    X, Y = data()
    for i in range(5):
        print(f"step {i}: loss {float(step(X, Y)[0]):.4f}")
    print(step.profile(X, Y, repeat=20))
