"""Optimizers: ``opt.updates(loss, params)`` returns ``(Variable, new_value)`` pairs.

Optimizer state (momentum buffers, Adam moments, the step count) lives in Variables, so it
persists across calls of the compiled function and is shared by every function using it.

Eager form (``SGD(lr=..., params=[...])``, :mod:`staticad.eager`): ``zero_grad()`` and
``step()`` apply the same update rule (``_rule``) to the parameters' ``.grad``, in place; the
state is then EagerTensors.
"""
from __future__ import annotations

import numpy as np

from . import ops
from .autodiff import grad
from .graph import Variable


class _Optimizer:
    """The eager half shared by the optimizers: parameters given at construction."""

    def _init_params(self, params):
        from .eager import EagerTensor
        self.params = None
        if params is None:
            return
        params = list(params)
        for p in params:
            if not isinstance(p, EagerTensor) or not p.is_leaf:
                raise TypeError(f"{type(self).__name__}(params=...): expected eager leaf tensors "
                                f"(sad.eager.tensor(..., requires_grad=True)), got {p!r}")
        self.params = params

    def _eager_params(self, what):
        if self.params is None:
            raise TypeError(f"{type(self).__name__}.{what}() needs the parameters: construct it with "
                            f"params=[...] (eager mode), or use .updates(loss, params) with sad.function")
        return self.params

    def zero_grad(self, set_to_none=False):
        """Zero every parameter's ``.grad`` (in place; ``None`` with ``set_to_none=True``)."""
        for p in self._eager_params("zero_grad"):
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def step(self):
        """One update of every parameter that has a ``.grad``, in place (nothing is recorded)."""
        from .eager import EagerTensor, no_grad
        with no_grad():
            live = [p for p in self._eager_params("step") if p.grad is not None]
            pairs = self._rule(live, [p.grad for p in live], lambda p, value, name: EagerTensor(
                np.full(p.shape, value, p.dtype) if name != "step" else np.array(value, np.float64)))
            for target, new in pairs:
                target._value[...] = new._value
                target._version[0] += 1


def _variable_state(p, value, what):
    """Optimizer state of the graph form: a non-trainable Variable (the step count in float64)."""
    if what == "step":
        return Variable(np.float64(value), name=f"{p.name}_adam_step", trainable=False)
    return Variable(np.full(p.shape, value, p.dtype), name=f"{p.name}_{what}", trainable=False)


def _params(params):
    params = list(params)
    for p in params:
        if not isinstance(p, Variable):
            raise TypeError(f"optimizer: {getattr(p, 'name', p)!r} is not a sad.Variable")
    return params


class SGD(_Optimizer):
    """Stochastic gradient descent; with ``momentum`` > 0: ``v = momentum*v + g; p -= lr*v`` (PyTorch's form)."""

    def __init__(self, lr, momentum=0.0, params=None):
        if lr <= 0:
            raise ValueError(f"SGD: lr must be positive, got {lr}")
        if momentum < 0:
            raise ValueError(f"SGD: momentum must be >= 0, got {momentum}")
        self.lr, self.momentum = float(lr), float(momentum)
        self.state: dict = {}
        self._init_params(params)

    def updates(self, loss, params):
        params = _params(params)
        return self._rule(params, grad(loss, params), _variable_state)

    def _rule(self, params, grads, new_state):
        """``(target, new value)`` pairs; ``new_state(p, initial value, what)`` makes state."""
        pairs = []
        for p, g in zip(params, grads):
            if self.momentum:
                v = self.state.get(p)
                if v is None:
                    v = self.state[p] = new_state(p, 0.0, "momentum")
                v_new = v * self.momentum + g
                pairs.append((v, v_new))
                step = v_new
            else:
                step = g
            pairs.append((p, p - step * self.lr))
        return pairs


class Adam(_Optimizer):
    """Adam (Kingma & Ba) with bias correction, PyTorch's form (``eps`` added after the sqrt).

    State lives in Variables, per parameter like PyTorch: the first and second moments and the
    step count, so a parameter's state is right however many functions update it.
    ``opt.state[param]`` is ``(m, v, step)``.
    """

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, params=None):
        b1, b2 = betas
        if lr <= 0 or not (0 <= b1 < 1) or not (0 <= b2 < 1) or eps < 0:
            raise ValueError(f"Adam: invalid hyper-parameters lr={lr}, betas={betas}, eps={eps}")
        self.lr, self.b1, self.b2, self.eps = float(lr), float(b1), float(b2), float(eps)
        self.state: dict = {}
        self._init_params(params)

    def _state(self, p, new_state=None):
        if p not in self.state:
            new_state = new_state or _variable_state
            self.state[p] = (new_state(p, 0.0, "adam_m"), new_state(p, 0.0, "adam_v"), new_state(p, 0.0, "step"))
        return self.state[p]

    def updates(self, loss, params):
        params = _params(params)
        return self._rule(params, grad(loss, params), _variable_state)

    def _rule(self, params, grads, new_state):
        pairs = []
        for p, g in zip(params, grads):
            m, v, step = self._state(p, new_state)
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
