"""The import structure of ``staticad/``: no cycles, and no import from a lower layer to a higher one.

Every import statement counts, at any depth (function-level imports too: they are cycles that
only run later). Importing ``a.b.c`` from outside package ``a.b`` also imports ``a.b`` (its
``__init__`` runs first), so that is an edge too; the root package ``staticad`` is what users
import, and is a layer of its own near the top.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "staticad"

# Lowest first. A module may import its own layer or lower ones; a prefix names a package and
# every module in it.
LAYERS = [
    ("ir", ["staticad.version", "staticad.clock", "staticad.dtypes", "staticad.registry", "staticad.graph",
            "staticad.program", "staticad.evaluate"]),
    ("ops", ["staticad.ops"]),
    ("transforms", ["staticad.autodiff", "staticad.batching", "staticad.onehot", "staticad.control"]),
    ("passes", ["staticad.passes"]),
    ("backends", ["staticad.backends"]),
    ("compiler", ["staticad.compiler"]),
    ("profiler", ["staticad.profiler"]),
    ("function", ["staticad.function"]),
    ("frontends", ["staticad.eager", "staticad.trace", "staticad.optim", "staticad.dot", "staticad.serialize",
                   "staticad.distributed"]),
    ("api", ["staticad"]),
    ("tools", ["staticad.cli", "staticad.bench", "staticad.fuzz", "staticad.__main__"]),
]


def _modules() -> dict:
    """Dotted name -> (path, is_package) of every module in staticad/."""
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_pkg)
    return out


def _targets(module: str, is_pkg: bool, node, modules) -> list:
    """The staticad modules an import statement loads (the deepest existing one per name)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".") if is_pkg else module.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix for a in node.names]
    out = []
    for name in names:
        if name.split(".")[0] != "staticad":
            continue
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        out.append(name)
    return out


def _edges(modules) -> dict:
    edges: dict = {m: set() for m in modules}
    for mod, (path, is_pkg) in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(mod, is_pkg, node, modules):
                edges[mod] |= _loaded(mod, target)
    return edges


def _loaded(importer: str, target: str) -> set:
    """``target`` and the packages below the root it lives in (they run first), unless the
    importer is inside them."""
    parts = target.split(".")
    parents = {".".join(parts[:k]) for k in range(2, len(parts))}
    return {d for d in parents if not importer.startswith(d + ".")} | ({target} - {importer})


def _layer(module: str) -> int:
    best, length = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > length:
                best, length = i, len(p)
    return best


MODULES = _modules()
EDGES = _edges(MODULES)


def _cycles(edges) -> list:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_every_module_has_a_layer():
    assert [m for m in MODULES if _layer(m) is None] == []


def test_no_import_cycles():
    cycles = _cycles(EDGES)
    assert cycles == [], "import cycles (each line: modules that import each other):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_no_import_from_a_lower_layer_to_a_higher_one():
    up = sorted(f"{m} ({LAYERS[_layer(m)][0]}) imports {t} ({LAYERS[_layer(t)][0]})"
                for m, targets in EDGES.items() for t in targets if _layer(t) > _layer(m))
    assert up == [], "upward imports:\n" + "\n".join(up)


def test_the_ir_does_not_import_the_op_library():
    for mod in ("staticad.graph", "staticad.program", "staticad.registry", "staticad.evaluate"):
        assert not {t for t in EDGES[mod] if t.startswith("staticad.ops")}, mod


@pytest.mark.parametrize("source, expected", [
    ("from .ops import add", {"staticad.ops"}),
    ("from .ops.shape import index_of", {"staticad.ops", "staticad.ops.shape"}),
    ("def f():\n    from ..passes import fuse", {"staticad.passes", "staticad.passes.fuse"}),
    ("def f():\n    import staticad", {"staticad"}),
])
def test_the_checker_sees_package_and_function_level_imports(tmp_path, source, expected):
    mod = "staticad.backends.numba_backend" if source.startswith("def") else "staticad.graph"
    tree = ast.parse(source)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for t in _targets(mod, False, node, MODULES):
                found |= _loaded(mod, t)
    assert found == expected
