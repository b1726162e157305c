"""Optimizers: ``opt.updates(loss, params)`` returns ``(Variable, new_value)`` pairs.

Optimizer state (momentum buffers, Adam moments, the step count) lives in Variables, so it
persists across calls of the compiled function and is shared by every function using it.
"""
from __future__ import annotations

import numpy as np

from . import ops
from .autodiff import grad
from .graph import Variable


def _params(params):
    params = list(params)
    for p in params:
        if not isinstance(p, Variable):
            raise TypeError(f"optimizer: {getattr(p, 'name', p)!r} is not a sad.Variable")
    return params


class SGD:
    """Stochastic gradient descent; with ``momentum`` > 0: ``v = momentum*v + g; p -= lr*v`` (PyTorch's form)."""

    def __init__(self, lr, momentum=0.0):
        if lr <= 0:
            raise ValueError(f"SGD: lr must be positive, got {lr}")
        if momentum < 0:
            raise ValueError(f"SGD: momentum must be >= 0, got {momentum}")
        self.lr, self.momentum = float(lr), float(momentum)
        self.state: dict = {}

    def updates(self, loss, params):
        params = _params(params)
        grads = grad(loss, params)
        pairs = []
        for p, g in zip(params, grads):
            if self.momentum:
                v = self.state.get(p)
                if v is None:
                    v = self.state[p] = Variable(np.zeros(p.shape, p.dtype), name=f"{p.name}_momentum",
                                                 trainable=False)
                v_new = v * self.momentum + g
                pairs.append((v, v_new))
                step = v_new
            else:
                step = g
            pairs.append((p, p - step * self.lr))
        return pairs


class Adam:
    """Adam (Kingma & Ba) with bias correction, PyTorch's form (``eps`` added after the sqrt).

    State lives in Variables, per parameter like PyTorch: the first and second moments and the
    step count, so a parameter's state is right however many functions update it.
    ``opt.state[param]`` is ``(m, v, step)``.
    """

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        b1, b2 = betas
        if lr <= 0 or not (0 <= b1 < 1) or not (0 <= b2 < 1) or eps < 0:
            raise ValueError(f"Adam: invalid hyper-parameters lr={lr}, betas={betas}, eps={eps}")
        self.lr, self.b1, self.b2, self.eps = float(lr), float(b1), float(b2), float(eps)
        self.state: dict = {}

    def _state(self, p):
        if p not in self.state:
            self.state[p] = (
                Variable(np.zeros(p.shape, p.dtype), name=f"{p.name}_adam_m", trainable=False),
                Variable(np.zeros(p.shape, p.dtype), name=f"{p.name}_adam_v", trainable=False),
                Variable(np.float64(0.0), name=f"{p.name}_adam_step", trainable=False),
            )
        return self.state[p]

    def updates(self, loss, params):
        params = _params(params)
        grads = grad(loss, params)
        pairs = []
        for p, g in zip(params, grads):
            m, v, step = self._state(p)
            t = step + 1.0
            # bias corrections in float64, then cast to the parameter's dtype
            c1 = ops.astype(1.0 - ops.power(self.b1, t), p.dtype)
            c2 = ops.astype(1.0 - ops.power(self.b2, t), p.dtype)
            m_new = m * self.b1 + g * (1.0 - self.b1)
            v_new = v * self.b2 + ops.square(g) * (1.0 - self.b2)
            m_hat = m_new / c1
            v_hat = v_new / c2
            pairs += [(step, t), (m, m_new), (v, v_new),
                      (p, p - m_hat * self.lr / (ops.sqrt(v_hat) + self.eps))]
        return pairs
