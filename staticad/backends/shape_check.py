"""Run-time agreement of ``None`` dims that must broadcast together (API.md §4).

Two placeholders of shape ``(None,)`` added together must receive sizes that broadcast. The
numba backend checks this inside its generated code (``_rt.bdim``); the numpy backend checks the
same groups before evaluating anything, so that a mismatch is one ``ValueError`` naming the
inputs, the dims and the shapes received, with the numba backend's wording, instead of numpy's
broadcasting error from deep inside evaluation.
"""
from __future__ import annotations

from ..graph import _format_shape
from ..passes.symshape import symbolic_shapes


def input_groups(program) -> list:
    """Each group: ``[(input index, axis, name), ...]`` of placeholder dims that must broadcast."""
    index = {id(p): i for i, p in enumerate(program.inputs)}
    by_id = {p.id: p for p in program.inputs}
    seen, groups = set(), []
    for shape in symbolic_shapes(program.nodes).values():
        for d in shape:
            if not (isinstance(d, tuple) and d[0] == "bc") or d[1] in seen:
                continue
            seen.add(d[1])
            members = sorted(d[1], key=repr)  # the order of the numba backend's message
            if all(m[0] == "in" and m[1] in by_id for m in members):
                groups.append([(index[id(by_id[m[1]])], m[2], by_id[m[1]].name) for m in members])
    return groups


def check(groups, arrays):
    for group in groups:
        sizes = {arrays[i].shape[ax] for i, ax, _ in group} - {1}
        if len(sizes) > 1:
            dims = " vs ".join(f"{name} dim {ax}" for _, ax, name in group)
            got = ", ".join(f"input {name!r} has shape {_format_shape(arrays[i].shape)}" for i, _, name in group)
            raise ValueError(f"shapes are incompatible at run time: {dims} ({got})")
