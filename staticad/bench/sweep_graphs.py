"""The graphs of the compile-latency sweep (:mod:`.compile_sweep`), for staticad and for jax.jit:
what a fresh measuring process (:mod:`.latency`) builds."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BATCH = 32          # rows fed to the MLP; the chain's input length
WIDTH = 64          # MLP layer width
CONCAT_PART = 4     # elements per concatenated placeholder


@dataclass(frozen=True)
class Sweep:
    name: str
    description: str
    sizes: tuple        # default sizes
    full_sizes: tuple   # with --full
    size_name: str


SWEEPS = {s.name: s for s in [
    Sweep("compile-chain", "n elementwise steps alternating sin(h) and tanh(h)*1.01 over x (None,) float32; "
          "outputs sum and its grad", (100,), (100, 1000, 5000), "n"),
    Sweep("compile-mlp", f"L-layer MLP, {WIDTH} wide, tanh, batch (None, {WIDTH}) float32, MSE, "
          "Adam(lr=1e-3) updates", (2,), (2, 8, 32), "L"),
    Sweep("compile-concat", f"concatenate of n placeholders ({CONCAT_PART},) float64, loss sum(sin(c)**2); "
          "outputs loss and the grads wrt all", (10,), (10, 100, 1000), "n"),
]}


def _rng(seed):
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------------------------
# staticad graphs: (inputs, outputs, updates, args, name)


def graph(name: str, size: int):
    import staticad as sad
    if name == "compile-chain":
        x = sad.placeholder((None,), "float32", name="x")
        h = x
        for i in range(size):
            h = sad.sin(h) if i % 2 == 0 else sad.tanh(h) * 1.01
        loss = sad.sum(h)
        return [x], [loss, sad.grad(loss, x)], None, [_chain_input()], f"chain{size}"
    if name == "compile-mlp":
        x = sad.placeholder((None, WIDTH), "float32", name="x")
        target = sad.placeholder((None, WIDTH), "float32", name="target")
        params, h = [], x
        for i, (w0, b0) in enumerate(_mlp_params(size)):
            w, b = sad.Variable(w0, name=f"W{i}"), sad.Variable(b0, name=f"b{i}")
            params += [w, b]
            h = h @ w + b
            if i < size - 1:  # the output layer is linear
                h = sad.tanh(h)
        loss = sad.mean((h - target) ** 2)
        updates = sad.optim.Adam(lr=1e-3).updates(loss, params)
        return [x, target], loss, updates, list(_mlp_inputs()), f"mlp{size}"
    if name == "compile-concat":
        xs = [sad.placeholder((CONCAT_PART,), "float64", name=f"x{i}") for i in range(size)]
        loss = sad.sum(sad.sin(sad.concatenate(xs)) ** 2)
        return xs, [loss] + list(sad.grad(loss, xs)), None, _concat_inputs(size), f"concat{size}"
    raise ValueError(f"unknown compile workload {name!r}; choose from: {', '.join(SWEEPS)}")


def _chain_input():
    return _rng(1).standard_normal(BATCH).astype(np.float32)


def _mlp_params(layers):
    rng, k = _rng(2), 1.0 / np.sqrt(WIDTH)
    return [(rng.uniform(-k, k, (WIDTH, WIDTH)).astype(np.float32), rng.uniform(-k, k, WIDTH).astype(np.float32))
            for _ in range(layers)]


def _mlp_inputs():
    rng = _rng(3)
    return rng.standard_normal((BATCH, WIDTH)).astype(np.float32), rng.standard_normal((BATCH, WIDTH)).astype(np.float32)


def _concat_inputs(n):
    rng = _rng(4)
    return [rng.uniform(-1, 1, CONCAT_PART) for _ in range(n)]


# --------------------------------------------------------------------------------------------
# the same functions for jax.jit: (fn, args), fn returning what staticad's outputs and updates are


def jax_function(name: str, size: int):
    import jax
    import jax.numpy as jnp
    if name == "compile-chain":
        def loss(x):
            h = x
            for i in range(size):
                h = jnp.sin(h) if i % 2 == 0 else jnp.tanh(h) * 1.01
            return jnp.sum(h)
        return jax.value_and_grad(loss), [jnp.asarray(_chain_input())]
    if name == "compile-mlp":
        def loss(params, x, target):
            h = x
            for i, (w, b) in enumerate(params):
                h = h @ w + b
                if i < size - 1:
                    h = jnp.tanh(h)
            return jnp.mean((h - target) ** 2)

        def adam_step(params, m, v, t, x, target, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
            value, g = jax.value_and_grad(loss)(params, x, target)
            t = t + 1.0
            m = jax.tree_util.tree_map(lambda m_, g_: b1 * m_ + (1 - b1) * g_, m, g)
            v = jax.tree_util.tree_map(lambda v_, g_: b2 * v_ + (1 - b2) * g_ * g_, v, g)
            params = jax.tree_util.tree_map(
                lambda p, m_, v_: p - lr * (m_ / (1 - b1 ** t)) / (jnp.sqrt(v_ / (1 - b2 ** t)) + eps), params, m, v)
            return value, params, m, v, t

        params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in _mlp_params(size)]
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        x, target = _mlp_inputs()
        return adam_step, [params, zeros, zeros, jnp.float32(0), jnp.asarray(x), jnp.asarray(target)]
    if name == "compile-concat":
        def loss(*xs):
            return jnp.sum(jnp.sin(jnp.concatenate(xs)) ** 2)
        return jax.value_and_grad(loss, argnums=tuple(range(size))), [jnp.asarray(a) for a in _concat_inputs(size)]
    raise ValueError(f"unknown compile workload {name!r}; choose from: {', '.join(SWEEPS)}")
