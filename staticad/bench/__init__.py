"""``staticad bench``: the built-in workloads, their timing, the table and the JSON report.

    from staticad.bench import WORKLOADS, build_staticad, build_hand
    w = WORKLOADS["chain"]
    case = w.case(1000)
    f, args = build_staticad(w, case, backend="numpy")
    hand, hargs = build_hand(w, case)
"""
from .workloads import WORKLOADS, Case, Workload, build_hand, build_staticad, outputs_close  # noqa: F401
