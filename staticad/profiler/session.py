"""``with sad.profile() as p:``: every compiled-function call made inside the block, timed."""
from __future__ import annotations

import threading

from .report import ProfileReport, chrome_trace, write_trace
from .timing import instrumented, run_timed

_ACTIVE: list = []  # open sessions; while any is open Function.__call__ is _profiled_call
_LOCK = threading.RLock()
_ORIGINAL_CALL = None
_FUNCTION = []  # the class whose calls are recorded: staticad.function.Function registers itself


def intercept(cls) -> None:
    """Record calls of ``cls`` (``sad.Function``) while a block is open: its ``__call__`` is
    swapped for the timed one then (and back after), so calls outside blocks cost nothing."""
    _FUNCTION[:] = [cls]


class Profile:
    """Records every call of a compiled function made while the block is open.

    ``with sad.profile() as p: ...`` then ``print(p)`` (the table over all calls, one row per
    function and kernel), ``p.report()`` (a :class:`ProfileReport`), ``p.records`` (the calls),
    ``p.export_chrome_trace(path)``. The calls are the user's real calls: results and Variable
    updates are exactly those of an unprofiled call. A numba function's first call inside a
    block compiles its profiling build (untimed; later blocks reuse it).
    """

    def __init__(self):
        self.records: list = []
        self.timers: set = set()
        self._labels: dict = {}
        self._open = False

    def __enter__(self):
        if self._open:
            raise RuntimeError("this sad.profile() block is already open")
        self._open = True
        _activate(self)
        return self

    def __exit__(self, *exc):
        _deactivate(self)
        self._open = False
        return False

    def _label(self, fn) -> str:
        label = self._labels.get(id(fn))
        if label is None:
            taken = set(self._labels.values())
            label, k = fn.name, 2
            while label in taken:
                label, k = f"{fn.name}#{k}", k + 1
            self._labels[id(fn)] = label
        return label

    def _add(self, fn, rec, timer):
        import dataclasses
        self.records.append(dataclasses.replace(rec, function=self._label(fn)))
        self.timers.add(timer)

    @property
    def calls(self) -> int:
        return len(self.records)

    def report(self) -> ProfileReport:
        wall = sum(r.end_ns - r.start_ns for r in self.records) * 1e-9
        return ProfileReport(None, wall, len(self.records), self.records, "; ".join(sorted(self.timers)))

    @property
    def rows(self) -> list:
        return self.report().rows

    def table(self) -> str:
        return self.report().table()

    __str__ = table

    def __repr__(self):
        return f"<staticad.profile: {len(self.records)} call(s)>"

    def chrome_trace(self, include_calls: bool = False) -> dict:
        return chrome_trace(self.records, include_calls)

    def export_chrome_trace(self, path, include_calls: bool = False) -> str:
        """Write the calls as Chrome trace JSON (see :meth:`ProfileReport.export_chrome_trace`)."""
        return write_trace(self.chrome_trace(include_calls), path)


def profile() -> Profile:
    """``with sad.profile() as p:`` records the compiled-function calls made inside the block."""
    return Profile()


def _activate(session):
    global _ORIGINAL_CALL
    Function = _FUNCTION[0]
    with _LOCK:
        if not _ACTIVE:
            _ORIGINAL_CALL = Function.__dict__["__call__"]
            Function.__call__ = _profiled_call
        _ACTIVE.append(session)


def _deactivate(session):
    Function = _FUNCTION[0]
    with _LOCK:
        if session in _ACTIVE:
            _ACTIVE.remove(session)
        if not _ACTIVE and _ORIGINAL_CALL is not None:
            Function.__call__ = _ORIGINAL_CALL


def _profiled_call(self, *args, **kwargs):
    """``Function.__call__`` while a ``sad.profile()`` block is open: the same call, timed."""
    sessions = list(_ACTIVE)
    if not sessions:
        return _ORIGINAL_CALL(self, *args, **kwargs)
    if kwargs or len(args) != self._n_inputs:
        arrays = self._bind(args, kwargs)
    else:
        arrays = self._fast_bind(args)
    instrumented(self)  # compile the profiling build before the clock starts
    outs, new_values, rec, timer = run_timed(self, arrays, restore=False)
    if new_values:
        self._apply_updates(new_values)
    for s in sessions:
        s._add(self, rec, timer)
    return self._finish(outs)
