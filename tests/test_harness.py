"""benchmarks/_harness.py: interleaving, ratio math, checks, JSON results, peak memory."""

from __future__ import annotations

import functools
import importlib.util
import json
import operator
import sys
from pathlib import Path

import numpy as np
import pytest

HARNESS_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "_harness.py"


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("_harness", HARNESS_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["_harness"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


class FakeClock:
    """perf_counter replacement; each candidate advances it by its own cost."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def work(self, seconds):
        def fn(*args):
            self.now += seconds
            return seconds

        return fn


def test_timing_statistics(harness):
    t = harness.Timing((3.0, 1.0, 2.0, 10.0))
    assert (t.median, t.min, t.max) == (2.5, 1.0, 10.0)


def test_ratio_is_peer_median_over_pdeflow_median(harness, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(harness.time, "perf_counter", clock)
    result = harness.compare(
        "fake",
        clock.work(0.5),
        {"slow peer": clock.work(2.0), "fast peer": clock.work(0.25)},
        repeats=4,
        warmup=1,
        quiet=True,
    )
    assert result.timings["pdeflow"].samples == (0.5,) * 4
    assert result.ratios == {"slow peer": 4.0, "fast peer": 0.5}
    assert harness.describe_ratio(result.ratio("slow peer")) == "pdeflow 4.00x faster"
    assert harness.describe_ratio(result.ratio("fast peer")) == "pdeflow 2.00x slower"
    table = result.format()
    assert "pdeflow 4.00x faster" in table and "500.000 ms" in table


def test_repeats_are_interleaved_and_rotated(harness):
    calls = []
    fns = {name: (lambda name=name: calls.append(name)) for name in ("pdeflow", "a", "b")}
    result = harness.compare("order", fns.pop("pdeflow"), fns, repeats=3, warmup=2, quiet=True)
    warm, timed = calls[:6], calls[6:]
    assert warm == ["pdeflow", "a", "b"] * 2
    assert timed == ["pdeflow", "a", "b", "a", "b", "pdeflow", "b", "pdeflow", "a"]
    assert all(len(t.samples) == 3 for t in result.timings.values())


def test_setup_gives_each_call_fresh_input(harness):
    seen = []
    counter = iter(range(100))
    harness.compare(
        "setup",
        seen.append,
        {"peer": seen.append},
        repeats=2,
        warmup=1,
        setup=lambda: next(counter),
        quiet=True,
    )
    assert seen == list(range(6))


def test_check_catches_a_disagreeing_peer(harness):
    def check(ours, theirs):
        assert ours == theirs, f"{ours} != {theirs}"

    with pytest.raises(AssertionError, match="'wrong' disagrees with pdeflow: 1 != 2"):
        harness.compare(
            "check", lambda: 1, {"right": lambda: 1, "wrong": lambda: 2}, check=check, quiet=True
        )


def test_bad_arguments(harness):
    with pytest.raises(ValueError, match="repeats"):
        harness.compare("x", lambda: 0, {}, repeats=0)
    with pytest.raises(ValueError, match="cannot be named"):
        harness.compare("x", lambda: 0, {"pdeflow": lambda: 0})


def test_compare_prints_the_table(harness, capsys):
    harness.compare("printed", lambda: 0, {"peer": lambda: 0}, repeats=2)
    out = capsys.readouterr().out
    assert "== printed" in out and "peer" in out and "median" in out


def test_write_results(harness, tmp_path):
    result = harness.compare("case", lambda: 0, {"peer": lambda: 0}, repeats=2, quiet=True)
    payload = {"cases": [result], "array": np.arange(3), "scalar": np.float64(1.5)}
    first = harness.write_results("my bench/1", payload, results_dir=tmp_path / "results")
    second = harness.write_results("my bench/1", payload, results_dir=tmp_path / "results")
    assert first != second  # never overwrites
    assert first.parent == tmp_path / "results" and first.name.startswith("my_bench_1-")
    doc = json.loads(first.read_text())
    assert doc["benchmark"] == "my bench/1"
    assert doc["array"] == [0, 1, 2] and doc["scalar"] == 1.5
    case = doc["cases"][0]
    assert case["name"] == "case" and set(case["timings"]) == {"pdeflow", "peer"}
    assert "peer" in case["ratios_peer_over_pdeflow"]
    machine = doc["machine"]
    for key in ("cpu", "cores", "memory_bytes", "os", "python", "versions", "gpus", "git"):
        assert key in machine
    assert machine["versions"]["numpy"] == np.__version__
    assert machine["cores"] >= 1


def test_results_dir_from_environment(harness, tmp_path, monkeypatch):
    monkeypatch.setenv("PDEFLOW_BENCH_RESULTS", str(tmp_path / "env"))
    path = harness.write_results("env", {})
    assert path.parent == tmp_path / "env"


def test_peak_memory_tracemalloc_sees_numpy_buffers(harness):
    n = 1_000_000
    mem = harness.peak_memory(np.ones, n, method="tracemalloc")
    assert mem.method == "tracemalloc"
    assert 8 * n <= mem.peak_bytes < 4 * 8 * n


def test_peak_memory_rss_in_subprocess(harness):
    size = 64 * 2**20
    # b"x" * size writes every page (a zero-filled bytearray might never touch them)
    fill = functools.partial(operator.mul, b"x", size)
    mem = harness.peak_memory(fill, method="rss", timeout=120)
    assert mem.method == "rss"
    assert mem.delta_bytes >= 0.9 * size
    assert mem.peak_bytes > mem.baseline_bytes > 0


def test_peak_memory_bad_method(harness):
    with pytest.raises(ValueError, match="method"):
        harness.peak_memory(lambda: None, method="psutil")
