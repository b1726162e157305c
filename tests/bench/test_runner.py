"""The bench harness's timing loop."""
import time

from staticad.bench import runner


def _stamping():
    stamps = []

    def fn():
        stamps.append(time.perf_counter())
        return len(stamps)
    return fn, stamps


def test_warm_up_runs_its_calls_and_for_its_time_before_the_timed_calls():
    fn, stamps = _stamping()
    first, outputs, times = runner._time_calls(fn, (), repeat=3, warmup=2, keep=2)
    assert len(times) == 3 and outputs == [1, 2]
    assert len(stamps) >= 1 + 2 + 3
    assert stamps[-3] - stamps[0] >= runner.WARMUP_SECONDS   # the first timed call came after it


def test_no_warm_up_when_asked_for_none():
    fn, stamps = _stamping()
    runner._time_calls(fn, (), repeat=4, warmup=0, keep=1)
    assert len(stamps) == 1 + 4
