"""Implicit construction (define-by-run): tensors that compute at once and record as they go.

    import staticad as sad
    x = sad.eager.tensor([1.0, 2.0], requires_grad=True)
    y = sad.sin(x).sum()
    y.backward()
    x.grad            # cos(x)

Every op of ``staticad`` (and every operator) accepts EagerTensors; the op registry, its
shape/dtype inference, numpy evaluation and VJP/JVP rules are the graph ones (see API.md §8).
"""
from . import functional  # noqa: F401
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401
from .tape import AccumulateGrad, GradFn  # noqa: F401
from .tensor import EagerTensor, arange, as_tensor, full, linspace, ones, randn, tensor, to_eager, zeros  # noqa: F401

__all__ = ["EagerTensor", "tensor", "as_tensor", "arange", "linspace", "zeros", "ones", "full", "randn", "to_eager",
           "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "functional", "GradFn",
           "AccumulateGrad"]
