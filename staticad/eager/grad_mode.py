"""Whether eager ops record the graph: ``sad.no_grad()`` / ``sad.enable_grad()`` (thread-local)."""
from __future__ import annotations

import functools
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    """True when eager ops on tensors that require grad record their node (the default)."""
    return getattr(_state, "enabled", True)


def set_grad_enabled(flag: bool) -> None:
    _state.enabled = bool(flag)


class _GradMode:
    """A context manager that is also a decorator (``@sad.no_grad()``) and restores the old mode."""

    _mode = True

    def __init__(self):
        self._prev = []  # a stack: the same instance may be entered again (recursion, decorators)

    def __enter__(self):
        self._prev.append(is_grad_enabled())
        set_grad_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        set_grad_enabled(self._prev.pop())
        return False

    def __call__(self, fn):
        if not callable(fn):
            raise TypeError(f"{type(self).__name__}() decorates a function, got {type(fn).__name__}")

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Recording off: results of eager ops have no ``grad_fn`` (``with sad.no_grad():`` or ``@sad.no_grad()``)."""

    _mode = False


class enable_grad(_GradMode):
    """Recording on again, e.g. inside a ``no_grad`` block."""

    _mode = True
