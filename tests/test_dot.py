"""``sad.to_dot``: forward and backward nodes drawn apart, kernels as clusters, escaping."""
from __future__ import annotations

import staticad as sad


def _node_lines(dot):
    return [l for l in dot.splitlines() if "[label=" in l and "->" not in l]


def test_to_dot_forward_and_backward_nodes():
    x = sad.placeholder((3,), name="x")
    y = (sad.sin(x) * 2).sum()
    g = sad.grad(y, x)
    dot = sad.to_dot([y, g])
    red = [l for l in _node_lines(dot) if "#c0392b" in l]
    black = [l for l in _node_lines(dot) if "#c0392b" not in l]
    assert any("cos" in l for l in red) and any("full" in l for l in red)
    assert any("sin" in l for l in black) and any('"sum_' in l or "\\nsum " in l for l in black)
    assert not any("placeholder" in l for l in red)
    assert "backward" in dot
    # explicit forward=: everything y does not reach is backward
    dot2 = sad.to_dot(g, forward=y)
    assert any("cos" in l for l in _node_lines(dot2) if "#c0392b" in l)
    # a single output: no distinction drawn
    assert "#c0392b" not in sad.to_dot(y)
    # several forward outputs: nothing descends from a gradient seed, so nothing is red
    assert "#c0392b" not in sad.to_dot([y, x * 2])


def test_to_dot_escapes_quotes_and_backslashes():
    x = sad.placeholder((2,), name='my "quoted" \\ input')
    dot = sad.to_dot((x * 2).sum(), name='graph "g"')
    assert 'my \\"quoted\\" \\\\ input' in dot
    assert dot.startswith('digraph "graph \\"g\\"" {')
    # every label's quotes are balanced: strip escaped quotes, count the rest
    for line in _node_lines(dot):
        assert line.replace('\\\\', '').replace('\\"', '').count('"') % 2 == 0, line


def test_to_dot_of_compiled_numba_function_has_kernel_clusters():
    x = sad.placeholder((None,), name="x")
    loss = (sad.sin(x) * sad.exp(-x * x)).sum()
    f = sad.function([x], [loss, sad.grad(loss, x)])
    dot = sad.to_dot(f)
    plan = f._exec.plan
    assert plan.kernels
    for k in plan.kernels:
        assert f"subgraph cluster_{k.name}" in dot
    assert dot.count("{") == dot.count("}")
    assert "#c0392b" in dot  # the gradient's nodes
    assert dot.startswith('digraph "function"')
    # numpy Function: the declared graph, no clusters
    fn = sad.function([x], [loss, sad.grad(loss, x)], backend="numpy")
    dn = sad.to_dot(fn)
    assert "cluster" not in dn and "sin" in dn and "#c0392b" in dn
