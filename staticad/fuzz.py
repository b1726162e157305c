"""Differential fuzzing: random graphs (values, gradients, control flow), numba against numpy.

A graph is described by a *recipe* ``(in_shapes, steps)``: the placeholders' shapes and a list of
``(kind, a, b)`` steps that each add one tensor built from earlier ones (``a``/``b`` pick the
operands and the op), the format of the random-graph test in tests/backends/test_numba_agreement.py,
extended with control flow (``c``: ``cond``, ``w``: ``fori_loop``). The hypothesis strategy
:func:`random_graph` draws recipes for tests; :func:`random_recipe` draws the same kind of recipe
from a plain seed, which is what the ``staticad fuzz`` command uses (fast, reproducible by seed).

Numba compiles dominate the cost (seconds per graph), so :func:`run` can compile ``batch``
graphs into one Function per backend; a batch that disagrees is re-run graph by graph, and each
failing graph is shrunk (steps removed while it still fails) and written as a ready pytest file.
"""
from __future__ import annotations

import random
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SHAPES = [(4, 3), (3,), (4, 1), ()]
KINDS = ["u", "u", "b", "b", "r", "m", "c", "w"]
_MAT = np.linspace(-1, 1, 6).reshape(3, 2)


def _unary(sad):
    return [sad.sin, sad.cos, sad.tanh, sad.exp, lambda t: t * t, sad.sigmoid, sad.relu, lambda t: -t,
            lambda t: sad.log1p(t * t), sad.abs]


def _binary(sad):
    return [sad.add, sad.subtract, sad.multiply, sad.maximum, lambda a, b: a / (1.5 + b * b)]


def random_graph(kinds=KINDS):
    """Hypothesis strategy of recipes (imports hypothesis lazily: it is a test dependency)."""
    from hypothesis import strategies as st

    @st.composite
    def draw_recipe(draw):
        n_in = draw(st.integers(1, 3))
        in_shapes = [draw(st.sampled_from(SHAPES)) for _ in range(n_in)]
        steps = [(draw(st.sampled_from(kinds)), draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6)))
                 for _ in range(draw(st.integers(5, 40)))]
        return in_shapes, steps

    return draw_recipe()


def random_recipe(seed: int, kinds=KINDS):
    """The recipe for ``seed`` (the distribution of :func:`random_graph`, without hypothesis)."""
    r = random.Random(seed)
    in_shapes = [r.choice(SHAPES) for _ in range(r.randint(1, 3))]
    steps = [(r.choice(kinds), r.randint(0, 10**6), r.randint(0, 10**6)) for _ in range(r.randint(5, 40))]
    return in_shapes, steps


def build(recipe, prefix=""):
    """``(placeholders, outputs, values)`` of a recipe: the loss of the last tensors and its gradients."""
    import staticad as sad
    unary, binary = _unary(sad), _binary(sad)
    in_shapes, steps = recipe
    phs = [sad.placeholder(s, "float64", name=f"{prefix}in{i}") for i, s in enumerate(in_shapes)]
    pool = list(phs)
    for kind, a, b in steps:
        x, y = pool[a % len(pool)], pool[b % len(pool)]
        if kind == "u":
            pool.append(unary[b % len(unary)](x))
        elif kind == "b":
            try:
                np.broadcast_shapes(x.shape, y.shape)
            except ValueError:
                continue
            pool.append(binary[a % len(binary)](x, y))
        elif kind == "r" and x.ndim:
            pool.append(sad.sum(x, axis=b % x.ndim, keepdims=bool(a % 2)))
        elif kind == "m" and x.ndim == 2 and x.shape[1] == 3:
            pool.append(x @ sad.constant(_MAT))
        elif kind == "c":
            f, g = unary[a % len(unary)], unary[b % len(unary)]
            pool.append(sad.cond(sad.sum(y) > 0, lambda t, f=f: f(t), lambda t, g=g: g(t) * 0.5, x))
        elif kind == "w":
            f = unary[b % len(unary)]
            pool.append(sad.fori_loop(0, 1 + a % 3, lambda i, t, f=f: f(t) * 0.5 + t * 0.25, x))
    made = pool[len(phs):][-3:]
    loss = sum(sad.sum(t) for t in made) if made else sad.sum(phs[0])
    outs = [loss] + list(sad.grad(loss, phs))
    rng = np.random.default_rng(len(steps))
    vals = [rng.uniform(-1, 1, s) for s in in_shapes]
    return phs, outs, vals


def check(recipes, rtol=1e-10, atol=1e-10):
    """None when numba agrees with numpy on every recipe (all compiled into one Function), else
    a one-line description of the first difference or error."""
    import staticad as sad
    phs, outs, vals, spans = [], [], [], []
    for k, recipe in enumerate(recipes):
        p, o, v = build(recipe, prefix=f"g{k}_")
        spans.append((len(outs), len(o)))
        phs += p
        outs += o
        vals += v
    try:
        ref = sad.function(phs, outs, backend="numpy")(*vals)
    except Exception as exc:  # the reference failing is a finding too
        return f"numpy backend: {type(exc).__name__}: {exc}"
    try:
        got = sad.function(phs, outs, backend="numba")(*vals)
    except Exception as exc:
        return f"numba backend: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    for k, (start, n) in enumerate(spans):
        for j in range(start, start + n):
            r, g = np.asarray(ref[j]), np.asarray(got[j])
            if r.shape != g.shape or r.dtype != g.dtype:
                return f"graph {k} output {j - start}: numba {g.shape} {g.dtype}, numpy {r.shape} {r.dtype}"
            if not np.allclose(g, r, rtol=rtol, atol=atol, equal_nan=True):
                err = float(np.max(np.abs(g - r)))
                return f"graph {k} output {j - start}: max abs difference {err:.3g}"
    return None


def shrink(recipe, fails=None):
    """A smaller recipe that still fails: drop chunks of steps, then single steps, then inputs."""
    fails = fails or (lambda r: check([r]) is not None)
    in_shapes, steps = list(recipe[0]), list(recipe[1])
    chunk = max(1, len(steps) // 2)
    while chunk >= 1:
        i, changed = 0, False
        while i < len(steps):
            trial = steps[:i] + steps[i + chunk:]
            if trial and fails((in_shapes, trial)):
                steps, changed = trial, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    for i in reversed(range(len(in_shapes))):
        trial = in_shapes[:i] + in_shapes[i + 1:]
        if trial and fails((trial, steps)):
            in_shapes = trial
    return in_shapes, steps


REGRESSION = '''\
"""Found by `staticad fuzz` (seed {seed}): {message}"""
from staticad.fuzz import check

RECIPE = {recipe!r}


def test_fuzz_seed_{seed}():
    assert check([RECIPE]) is None
'''


def write_regression(out_dir: Path, seed: int, recipe, message: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"test_fuzz_seed_{seed}.py"
    path.write_text(REGRESSION.format(seed=seed, recipe=(list(recipe[0]), list(recipe[1])),
                                      message=message.replace('"""', "'''")))
    return path


@dataclass
class Report:
    graphs: int = 0
    batches: int = 0
    failures: list = field(default_factory=list)  # (seed, message, regression file)


def run(n: int, seed: int = 0, batch: int = 1, out_dir: Path = Path("fuzz-failures"), log=print,
        kinds=KINDS) -> Report:
    """Fuzz ``n`` graphs with seeds ``seed .. seed+n-1``, ``batch`` of them per compiled Function."""
    report = Report()
    for start in range(seed, seed + n, batch):
        seeds = list(range(start, min(start + batch, seed + n)))
        recipes = [random_recipe(s, kinds) for s in seeds]
        try:
            msg = check(recipes)
        except Exception:  # building the graph itself failed: look at each graph alone
            msg = traceback.format_exc().splitlines()[-1]
        report.batches += 1
        report.graphs += len(seeds)
        if msg is not None:
            for s, recipe in zip(seeds, recipes):
                one = _safe_check(recipe)
                if one is None:
                    continue
                small = shrink(recipe, lambda r: _safe_check(r) is not None)
                path = write_regression(out_dir, s, small, _safe_check(small) or one)
                report.failures.append((s, one, str(path)))
                log(f"seed {s}: {one} -> {path}")
        log(f"{report.graphs}/{n} graphs, {len(report.failures)} failing")
    return report


def _safe_check(recipe):
    try:
        return check([recipe])
    except Exception:
        return "building the graph: " + traceback.format_exc().splitlines()[-1]

