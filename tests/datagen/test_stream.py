"""Online streaming (pdeflow.datagen.stream) and its Melissa-style buffers."""

from __future__ import annotations

import gc
import multiprocessing
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

from pdeflow.datagen.buffers import BufferClosed, FIFOBuffer, ReservoirBuffer
from pdeflow.datagen.families import FieldSpec, PointwiseFamily, SampleStatus
from pdeflow.datagen.stream import SampleStream, online_source, stream
from pdeflow.errors import ConfigError, ShapeError


@dataclass(frozen=True)
class Toy(PointwiseFamily):
    """A trivial family: a ~ N(0, 1) on 8 points, u[t] = (t + 1) a for 3 steps.

    Defined at module top level so that spawned worker processes can unpickle it.
    """

    name: ClassVar[str] = "toy"
    resolution: int = 8
    seed: int = 0
    fail_at: int = -1
    delay: float = 0.0

    def fields(self) -> dict[str, FieldSpec]:
        s = self.resolution
        return {
            "a": FieldSpec("a", (s,), "input", ("x",)),
            "u": FieldSpec("u", (3, s), "output", ("t", "x")),
        }

    def coords(self) -> dict[str, np.ndarray]:
        return {"x": np.linspace(0, 1, self.resolution), "t": np.arange(3.0)}

    def sample(self, i: int) -> dict[str, Any]:
        if i == self.fail_at:
            raise ValueError(f"toy cannot draw sample {i}")
        return {"a": self.rng(i).standard_normal(self.resolution)}

    def solve_one(self, sample: Any) -> tuple[dict[str, np.ndarray], dict]:
        if self.delay:
            time.sleep(self.delay)
        u = np.arange(1.0, 4.0)[:, None] * sample["a"][None, :]
        return {"u": u}, {"iterations": 3, "residual": 0.0}


def _feeders(timeout: float = 5.0) -> int:
    """Live feeder threads of streams (waits a little for closing ones)."""

    def count() -> int:
        return sum(t.name == "pdeflow-stream-feeder" for t in threading.enumerate())

    deadline = time.monotonic() + timeout
    while count() and time.monotonic() < deadline:
        time.sleep(0.02)
    return count()


def _no_children(timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    return multiprocessing.active_children()


# ---------------------------------------------------------------------- FIFO buffer
def test_fifo_order_backpressure_and_drain():
    buf = FIFOBuffer(2)
    buf.put(1)
    buf.put(2)
    with pytest.raises(TimeoutError):
        buf.put(3, timeout=0.05)
    assert buf.producer_wait_s >= 0.04

    done = threading.Event()

    def producer():
        buf.put(3)  # blocks until the consumer takes one
        done.set()

    t = threading.Thread(target=producer)
    t.start()
    assert not done.wait(0.1), "put into a full FIFO must block"
    assert buf.get() == 1
    assert done.wait(2.0), "put must resume after a get"
    t.join()
    buf.close()
    assert [buf.get(), buf.get()] == [2, 3]  # close drains in order
    with pytest.raises(BufferClosed):
        buf.get()
    with pytest.raises(BufferClosed):
        buf.put(4)
    assert (buf.puts, buf.gets, len(buf)) == (3, 3, 0)


def test_fifo_get_waits_and_close_wakes_consumer():
    buf = FIFOBuffer(4)
    with pytest.raises(TimeoutError):
        buf.get(timeout=0.05)
    errors = []

    def consumer():
        try:
            buf.get()
        except BufferClosed as exc:
            errors.append(exc)

    t = threading.Thread(target=consumer)
    t.start()
    time.sleep(0.05)
    buf.close()
    t.join(2.0)
    assert not t.is_alive() and len(errors) == 1
    assert buf.consumer_wait_s >= 0.04


# ---------------------------------------------------------------------- reservoir buffer
def test_reservoir_capacity_evictions_and_threshold():
    buf = ReservoirBuffer(5, threshold=3, seed=1)
    buf.put(0)
    buf.put(1)
    with pytest.raises(TimeoutError):  # population 2 < threshold 3: no draws yet
        buf.get(timeout=0.05)
    for i in range(2, 20):
        buf.put(i)
        assert len(buf) <= 5
    assert (len(buf), buf.puts, buf.evictions) == (5, 20, 15)
    assert all(buf.get() in range(20) for _ in range(10))
    assert len(buf) == 5  # draws do not remove
    buf.close()
    assert buf.get() in range(20)  # a closed reservoir still serves its population

    small = ReservoirBuffer(4, threshold=4)
    small.put("x")
    small.close()  # producers done below the threshold: reading may start
    assert small.get(timeout=1) == "x"
    empty = ReservoirBuffer(3, threshold=1)
    empty.close()
    with pytest.raises(BufferClosed):
        empty.get()


def test_reservoir_draws_are_uniform_and_seeded():
    def run(seed: int) -> list[int]:
        buf = ReservoirBuffer(10, threshold=10, seed=seed)
        for i in range(10):
            buf.put(i)
        return [buf.get() for _ in range(5000)]

    draws = run(3)
    counts = np.bincount(draws, minlength=10)
    chi2 = float(((counts - 500.0) ** 2 / 500.0).sum())
    assert chi2 < 35.0, f"chi-square {chi2:.1f} with 9 dof: draws are not uniform"  # p ~ 1e-4
    assert run(3) == draws
    assert run(4) != draws

    def evicted(seed: int) -> list[int]:
        buf = ReservoirBuffer(4, threshold=1, seed=seed)
        for i in range(50):
            buf.put(i)
        buf.close()
        return sorted({buf.get() for _ in range(200)})

    assert evicted(0) == evicted(0) and len(evicted(0)) == 4
    # a put into a full reservoir evicts a uniformly random member: after 8 puts into 4
    # slots the last item always survives, item 4 with prob (3/4)^3, items 0-3 with (3/4)^4
    survivors = Counter()
    trials = 400
    for seed in range(trials):
        buf = ReservoirBuffer(4, threshold=1, seed=seed)
        for i in range(8):
            buf.put(i)
        survivors.update(buf._items)
    assert survivors[7] == trials
    expected = {0: 0.75**4, 3: 0.75**4, 4: 0.75**3, 6: 0.75}
    for item, prob in expected.items():
        sd = np.sqrt(trials * prob * (1 - prob))
        assert abs(survivors[item] - trials * prob) < 4 * sd, (item, survivors[item])


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: FIFOBuffer(0), "capacity"),
        (lambda: ReservoirBuffer(-1), "capacity"),
        (lambda: ReservoirBuffer(4, threshold=5), "threshold"),
        (lambda: ReservoirBuffer(4, threshold=0), "threshold"),
        (lambda: FIFOBuffer(2.5), "capacity"),
    ],
)
def test_buffer_bad_arguments(make, name):
    with pytest.raises(ConfigError, match=f"'{name}'"):
        make()


# ---------------------------------------------------------------------- stream
def _check_samples(family: Toy, samples: list[dict], expected: range) -> None:
    assert sorted(s["index"] for s in samples) == list(expected)
    for s in samples:
        ref = family.solve([s["index"]])
        for name in ("a", "u"):
            np.testing.assert_array_equal(s[name], ref.fields[name][0])
            assert s[name].dtype == np.float64 and not s[name].flags.writeable
        assert s["iterations"] == 3 and s["residual"] == 0.0 and s["time"] >= 0.0


def test_stream_fifo_thread_exact_indices():
    fam = Toy(seed=5)
    with stream(fam, 21, start=4, chunk_size=4, buffer_size=6) as s:
        assert isinstance(s, SampleStream)
        samples = list(s)
    _check_samples(fam, samples, range(4, 25))
    assert [x["index"] for x in samples] == list(range(4, 25))  # index order
    stats = s.stats()
    assert stats["produced"] == stats["consumed"] == 21 and stats["evictions"] == 0
    assert s.closed and list(s) == []
    # seed overrides the family's seed; fields selects
    with stream(fam, 2, seed=6, fields=["u"]) as s2:
        got = list(s2)
    assert set(got[0]) == {"u", "index", "iterations", "residual", "time", "converged", "status"}
    assert got[0]["converged"] is True and got[0]["status"] == int(SampleStatus.OK)
    np.testing.assert_array_equal(got[1]["u"], Toy(seed=6).solve([1]).fields["u"][0])


def test_stream_fifo_process_pool_exact_and_nothing_on_disk(tmp_path, monkeypatch):
    """workers=2 spawn pool: the same samples; cwd and TMPDIR stay empty."""
    import tempfile

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    monkeypatch.setenv("TMPDIR", str(empty))
    monkeypatch.setattr(tempfile, "tempdir", None)
    fam = Toy(seed=2)
    with stream(fam, 30, workers=2, chunk_size=3, buffer_size=8) as s:
        samples = list(s)
    _check_samples(fam, samples, range(30))
    assert [x["index"] for x in samples] == list(range(30))
    assert list(empty.rglob("*")) == [], "the stream wrote to disk"
    gc.collect()
    assert _no_children() == []


def test_stream_backpressure_bounds_unconsumed_samples():
    fam = Toy()
    buffer_size, chunk_size, workers = 4, 2, 2
    peak = 0
    with stream(
        fam,
        40,
        workers=workers,
        executor="thread",
        chunk_size=chunk_size,
        buffer_size=buffer_size,
    ) as s:
        for k, _ in enumerate(s):
            time.sleep(0.004)  # a slow consumer
            st = s.stats()
            unconsumed = st["produced"] - st["consumed"]
            peak = max(peak, unconsumed)
            assert unconsumed <= buffer_size + 2 * workers * chunk_size
            assert unconsumed <= buffer_size  # the feeder reserves room before it submits
            if k == 10:  # solvers wait for the consumer instead of racing ahead
                assert st["produced"] <= st["consumed"] + buffer_size < 40
        assert st["producer_wait_s"] > 0
    assert peak >= 2


def test_stream_reservoir_draws_and_evictions():
    fam = Toy()
    with stream(fam, 40, policy="reservoir", buffer_size=8, threshold=4, draws=100) as s:
        got = [next(s)["index"]]  # draws start once 4 samples are in
        deadline = time.monotonic() + 10
        while s.stats()["produced"] < 40 and time.monotonic() < deadline:
            time.sleep(0.01)  # the solvers keep refreshing the population meanwhile
        got += [x["index"] for x in s]
        st = s.stats()
    assert len(got) == 100 and set(got) <= set(range(40))
    assert len(set(got)) < 100  # repeats: a sample may be read more than once
    assert st["produced"] == 40 and st["evictions"] == 32 and st["consumed"] == 100
    with stream(fam, 5, policy="reservoir", buffer_size=8) as s:  # draws default to n
        assert len(list(s)) == 5


def test_producer_exception_surfaces_in_consumer():
    fam = Toy(fail_at=13)
    s = stream(fam, 30, chunk_size=4, buffer_size=4)
    with pytest.raises(ValueError, match=r"toy cannot draw sample 13.*indices 12\.\.15") as info:
        for _ in s:
            pass
    assert isinstance(info.value.__cause__, ValueError)
    assert s.closed
    with pytest.raises(ValueError, match="12..15"):  # stays raised
        next(s)


def test_close_mid_stream_kills_workers_and_gc_cleans_up():
    slow = Toy(delay=0.2)
    t0 = time.perf_counter()
    s = stream(slow, 100, workers=2, chunk_size=2)
    first = next(s)  # waits for the pool to start and one chunk
    assert first["index"] == 0
    assert len(multiprocessing.active_children()) == 2
    t1 = time.perf_counter()
    s.close()
    s.close()  # idempotent
    assert time.perf_counter() - t1 < 1.5, "close must not wait for running chunks"
    assert _no_children() == []
    assert next(s, None) is None
    del s

    # an abandoned stream (consumer raised) is cleaned up by garbage collection
    def consume_and_fail():
        s = stream(Toy(), None, workers=2, chunk_size=2)
        next(s)
        raise RuntimeError("consumer failed")

    try:
        consume_and_fail()
    except RuntimeError:
        pass
    gc.collect()
    assert _no_children() == []
    assert _feeders() == 0
    assert time.perf_counter() - t0 < 15


def test_executor_instance_is_used_and_left_running():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        with stream(Toy(), 10, workers=2, executor=pool, chunk_size=3) as s:
            assert sorted(x["index"] for x in s) == list(range(10))
        assert pool.submit(lambda: 7).result() == 7  # not shut down by the stream


def test_xy_channels_and_errors():
    fam = Toy()
    with stream(fam, 3) as s:
        items = list(s.xy())
    assert [it["x"].shape for it in items] == [(1, 8)] * 3
    assert items[0]["y"].shape == (3, 8) and items[0]["y"].dtype == np.float32
    ref = fam.solve([0]).fields
    np.testing.assert_allclose(items[0]["x"][0], ref["a"][0].astype(np.float32))
    np.testing.assert_allclose(items[0]["y"], ref["u"][0].astype(np.float32))
    with stream(fam, 2) as s:
        both = next(s.xy(inputs=["a", "u"], outputs="a"))
    assert both["x"].shape == (4, 8) and both["y"].shape == (1, 8)
    with stream(fam, 2, fields=["u"]) as s:
        with pytest.raises(ConfigError, match="'inputs'"):
            s.xy()
        with pytest.raises(ConfigError, match="'outputs'"):
            s.xy(inputs=["u"], outputs=["v"])
    with stream(_TwoGrids(), 1) as s:
        with pytest.raises(ShapeError, match="spatial"):
            s.xy(inputs=["a", "b"])
        assert next(s.xy(inputs=["b"]))["x"].shape == (1, 5)


@dataclass(frozen=True)
class _TwoGrids(Toy):
    """Inputs on two grids (4 and 5 points): they cannot be stacked as channels."""

    def fields(self) -> dict[str, FieldSpec]:
        return {
            "a": FieldSpec("a", (4,), "input", ("x",)),
            "b": FieldSpec("b", (5,), "input", ("x",)),
            "u": FieldSpec("u", (3, 4), "output", ("t", "x")),
        }

    def sample(self, i: int) -> dict[str, Any]:
        rng = self.rng(i)
        return {"a": rng.standard_normal(4), "b": rng.standard_normal(5)}


def test_online_source_protocol():
    from pdeflow.operators.data import StreamDataset

    source = online_source(Toy(), chunk_size=2, buffer_size=4)
    first, second = source(3), source(3)
    a = [next(first) for _ in range(3)]
    b = [next(second) for _ in range(3)]
    del first, second  # dropping a source's iterator closes its stream
    assert _feeders() == 0
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u["x"], v["x"])
    np.testing.assert_array_equal(a[1]["x"][0], Toy(seed=3).sample(1)["a"].astype(np.float32))
    ds = StreamDataset(source, samples_per_epoch=5, buffer_size=2, spatial_ndim=1)
    batch = list(ds)
    assert len(batch) == 5 and tuple(batch[0]["y"].shape) == (3, 8)
    assert tuple(ds.take(2)[0]["x"].shape) == (1, 8)
    with pytest.raises(ConfigError, match="'outputs'"):
        online_source(Toy(), outputs=["nope"])
    with pytest.raises(ConfigError, match="Unknown family"):
        online_source("no-such-family")
    assert _feeders() == 0  # exhausted and dropped sources closed their streams


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"policy": "lifo"}, "policy"),
        ({"buffer_size": 0}, "buffer_size"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"workers": 0}, "workers"),
        ({"n": -1}, "n"),
        ({"start": -2}, "start"),
        ({"threshold": 3}, "threshold"),  # fifo has no threshold
        ({"policy": "reservoir", "buffer_size": 4, "threshold": 5}, "threshold"),
        ({"draws": 3}, "draws"),
        ({"executor": "mpi"}, "executor"),
        ({"executor": object()}, "executor"),
        ({"fields": ["v"]}, "fields"),
        ({"solver": 3}, "solver"),
        ({"seed": -1}, "seed"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_stream_bad_arguments(kwargs, name):
    with pytest.raises(ConfigError, match=f"'{name}'"):
        stream(Toy(), **kwargs)


def test_stream_unknown_family():
    with pytest.raises(ConfigError, match="Unknown family 'no-such-family'"):
        stream("no-such-family", 3)


def test_stream_registry_family_darcy():
    pytest.importorskip("pdeflow.datagen.families.darcy")
    from pdeflow.datagen.families import get

    with stream("darcy", 5, chunk_size=3, resolution=16, seed=1) as s:
        samples = list(s)
    fam = get("darcy", resolution=16, seed=1)
    assert [x["index"] for x in samples] == list(range(5))
    for x in samples:
        ref = fam.solve([x["index"]])
        np.testing.assert_array_equal(x["a"], ref.fields["a"][0])  # inputs: bit-identical
        np.testing.assert_allclose(x["u"], ref.fields["u"][0], rtol=1e-6, atol=1e-10)
        assert x["residual"] < 1e-6


def test_producer_exception_keeps_its_type():
    from pdeflow.datagen.stream import _with_indices

    exc = _with_indices(ZeroDivisionError("division by zero"), [7])
    assert type(exc) is ZeroDivisionError and str(exc).endswith("[while solving sample index 7]")
    odd = _with_indices(KeyError("k"), [3, 4])  # str(KeyError) quotes: the note carries it
    assert type(odd) is KeyError and "indices 3..4" in " ".join(odd.__notes__)
