"""staticad: define-then-run automatic differentiation with a compiler behind it.

    import staticad as sad
    x = sad.placeholder((None, 3))
    y = (sad.sin(x) * 2).sum()
    f = sad.function([x], [y, sad.grad(y, x)])
"""
from . import ops, optim  # noqa: F401
from .autodiff import grad, vjp, jvp, jacobian, hessian, hvp, vhp, stop_gradient, detach  # noqa: F401
from .function import Function, function  # noqa: F401
from .backends.base import CompileOptions  # noqa: F401
from .control import cond, fori_loop, while_loop  # noqa: F401
from .graph import Tensor, Variable, constant, placeholder  # noqa: F401
from .dot import to_dot  # noqa: F401
from .serialize import save, load  # noqa: F401
from .profiler import profile  # noqa: F401
from . import eager  # noqa: F401  (after ops: eager tensors use them)
from .eager import enable_grad, no_grad  # noqa: F401
from .trace import jit, trace  # noqa: F401
from .ops import (  # noqa: F401
    add, subtract, multiply, divide, negative, power, square, sqrt, exp, log, log1p, sin, cos, tan, tanh,
    sigmoid, relu, abs, sign, maximum, minimum, where, clip, sum, mean, max, min, prod, matmul, dot,
    transpose, reshape, broadcast_to, expand_dims, squeeze, concatenate, stack, getitem, norm, softmax,
    log_softmax, logsumexp, astype, less, less_equal, greater, greater_equal, equal, not_equal, logical_and,
    logical_or, logical_not, zeros, ones, zeros_like, ones_like, full, full_like, arange, linspace, softplus,
)

from .version import __version__  # noqa: F401,E402


def __getattr__(name):
    # sad.distributed needs dask: imported on first use so staticad itself does not need it
    if name == "distributed":
        import importlib
        return importlib.import_module(".distributed", __name__)
    raise AttributeError(f"module 'staticad' has no attribute {name!r}")
