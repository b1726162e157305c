"""All ops. Each op is defined once in one of these modules (the record: :mod:`staticad.registry`)."""
from ..registry import REGISTRY, Op, defop, get_op  # noqa: F401
from .elementwise import (  # noqa: F401
    add, subtract, multiply, divide, negative, power, square, sqrt, exp, log, log1p, sin, cos, tan, tanh,
    sigmoid, relu, abs, sign, maximum, minimum, where, clip, astype, less, less_equal, greater,
    greater_equal, equal, not_equal, logical_and, logical_or, logical_not, reciprocal, softplus,
)
from .creation import zeros, ones, full, zeros_like, ones_like, full_like, arange, linspace  # noqa: F401
from .shape import (  # noqa: F401
    reshape, transpose, swapaxes, broadcast_to, expand_dims, squeeze, concatenate, stack, getitem,
    sum_to_like, broadcast_like, reshape_like,
)
from .reduce import sum, mean, max, min, prod, count  # noqa: F401
from .linalg import matmul, dot, norm  # noqa: F401
from .gradient import stop_gradient, detach  # noqa: F401
from .nn import softmax, log_softmax, logsumexp  # noqa: F401

import sys as _sys

from .. import graph as _graph

_graph.bind_ops(_sys.modules[__name__])  # Tensor operators (x + y, x @ w, x.sum()) call these ops
