"""Bounded, thread-safe sample buffers between running solvers and a consumer (Melissa-style).

Following Melissa (Meyer et al., "Training Deep Surrogate Models with Large Scale Online
Learning", ICML 2023), solvers (producers) push samples into a server-side buffer that the
training loop (consumer) reads:

* :class:`FIFOBuffer` -- each sample is read exactly once, in arrival order; ``put`` blocks
  while the buffer is full, so a slow consumer slows the producers down (backpressure);
* :class:`ReservoirBuffer` -- a bounded, continually refreshed population; ``get`` draws a
  uniformly random member (a sample may be read several times, which keeps the consumer
  busy when solvers are slower than training), reading starts once the population reaches
  ``threshold``, and a ``put`` into a full buffer evicts a uniformly random member.

Both use one :class:`threading.Condition` (no busy waiting).  ``close()`` says the
producers are done: readers then drain what is left and get :class:`BufferClosed`.

Examples
--------
>>> buf = FIFOBuffer(2)
>>> buf.put("a"); buf.put("b"); buf.close()
>>> [buf.get(), buf.get()]
['a', 'b']
>>> buf.get()
Traceback (most recent call last):
...
pdeflow.datagen.buffers.BufferClosed: the buffer is closed and empty
"""

from __future__ import annotations

import abc
import threading
import time
from collections import deque
from typing import Any, final

import numpy as np

from pdeflow.errors import ConfigError

__all__ = ["BufferClosed", "AbstractBuffer", "FIFOBuffer", "ReservoirBuffer"]


class BufferClosed(Exception):
    """The buffer is closed: ``get`` found it empty (or drained), or ``put`` came too late."""


class AbstractBuffer(abc.ABC):
    """A bounded buffer of samples shared by producer threads and one or more consumers.

    Attributes
    ----------
    capacity : int
        Most samples held at once.
    puts, gets, evictions : int
        Samples put, samples read, samples dropped to make room (reservoir only).
    producer_wait_s, consumer_wait_s : float
        Seconds spent blocked in ``put`` (buffer full) and in ``get`` (nothing to read).
    """

    def __init__(self, capacity: int) -> None:
        _check_int("capacity", capacity, 1, type(self).__name__)
        self.capacity = int(capacity)
        self.puts = 0
        self.gets = 0
        self.evictions = 0
        self.producer_wait_s = 0.0
        self.consumer_wait_s = 0.0
        self._closed = False
        self._cond = threading.Condition()

    # ------------------------------------------------------------------ interface
    @abc.abstractmethod
    def put(self, item: Any, timeout: float | None = None) -> None:
        """Add ``item``.

        Raises
        ------
        BufferClosed
            The buffer was closed (before or while waiting).
        TimeoutError
            ``timeout`` seconds passed without room (FIFO only).
        """

    @abc.abstractmethod
    def get(self, timeout: float | None = None) -> Any:
        """Read one item, waiting up to ``timeout`` seconds (``None``: forever).

        Raises
        ------
        BufferClosed
            The buffer is closed and nothing is left to read.
        TimeoutError
            ``timeout`` seconds passed with nothing to read.
        """

    @abc.abstractmethod
    def __len__(self) -> int: ...

    # ------------------------------------------------------------------ shared
    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called (no more samples are accepted)."""
        return self._closed

    def close(self) -> None:
        """Producers are done: wake every waiter; ``get`` drains, then raises BufferClosed."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def counters(self) -> dict[str, float]:
        """A consistent snapshot of the counters and the current length."""
        with self._cond:
            return {
                "length": len(self),
                "puts": self.puts,
                "gets": self.gets,
                "evictions": self.evictions,
                "producer_wait_s": self.producer_wait_s,
                "consumer_wait_s": self.consumer_wait_s,
            }

    def _wait_for(self, ready: Any, timeout: float | None, what: str) -> None:
        """Wait (holding the lock) until ``ready()``; add the seconds waited to the counter of
        the producer (``what="put"``) or of the consumer (``"get"``), timeouts included."""
        if ready():
            return
        t0 = time.perf_counter()
        deadline = None if timeout is None else t0 + timeout
        try:
            while not ready():
                left = None if deadline is None else deadline - time.perf_counter()
                if left is not None and left <= 0:
                    raise TimeoutError(
                        f"{type(self).__name__}.{what}: nothing happened in {timeout} s"
                    )
                self._cond.wait(left)
        finally:
            if what == "put":
                self.producer_wait_s += time.perf_counter() - t0
            else:
                self.consumer_wait_s += time.perf_counter() - t0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(capacity={self.capacity}, len={len(self)})"


@final
class FIFOBuffer(AbstractBuffer):
    """First in, first out; each item read once; ``put`` blocks while full (backpressure).

    Parameters
    ----------
    capacity : int
        Most items held (>= 1).

    Examples
    --------
    >>> buf = FIFOBuffer(1)
    >>> buf.put(1)
    >>> buf.put(2, timeout=0.01)
    Traceback (most recent call last):
    ...
    TimeoutError: FIFOBuffer.put: nothing happened in 0.01 s
    """

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._items: deque[Any] = deque()

    def put(self, item: Any, timeout: float | None = None) -> None:
        with self._cond:
            self._wait_for(lambda: self._closed or len(self._items) < self.capacity, timeout, "put")
            if self._closed:
                raise BufferClosed("put into a closed buffer")
            self._items.append(item)
            self.puts += 1
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Any:
        with self._cond:
            self._wait_for(lambda: self._closed or bool(self._items), timeout, "get")
            if not self._items:
                raise BufferClosed("the buffer is closed and empty")
            item = self._items.popleft()
            self.gets += 1
            self._cond.notify_all()
            return item

    def __len__(self) -> int:
        return len(self._items)


@final
class ReservoirBuffer(AbstractBuffer):
    """A bounded population read by uniform random draws (with replacement).

    ``put`` never blocks: into a full buffer it replaces a uniformly random member
    (counted in ``evictions``).  ``get`` waits until the population holds ``threshold``
    items (or the buffer is closed with at least one), then returns a uniformly random
    member without removing it.  Evictions and draws use two generators spawned from
    ``seed``, so the same sequence of calls gives the same draws.

    Parameters
    ----------
    capacity : int
        Most items held (>= 1).
    threshold : int, optional
        Population needed before the first draw, in ``[1, capacity]`` (default: capacity).
    seed : int
        Seed of the eviction and draw generators.

    Examples
    --------
    >>> buf = ReservoirBuffer(4, threshold=2, seed=0)
    >>> for i in range(6):
    ...     buf.put(i)
    >>> len(buf), buf.evictions, buf.get() in range(6)
    (4, 2, True)
    """

    def __init__(self, capacity: int, threshold: int | None = None, seed: int = 0) -> None:
        super().__init__(capacity)
        threshold = self.capacity if threshold is None else threshold
        _check_int("threshold", threshold, 1, "ReservoirBuffer")
        if threshold > self.capacity:
            raise ConfigError(
                f"The 'threshold' parameter of ReservoirBuffer must be <= capacity "
                f"({self.capacity}). Got {threshold!r}."
            )
        _check_int("seed", seed, 0, "ReservoirBuffer")
        self.threshold = int(threshold)
        evict_seq, draw_seq = np.random.SeedSequence(int(seed)).spawn(2)
        self._evict_rng = np.random.default_rng(evict_seq)
        self._draw_rng = np.random.default_rng(draw_seq)
        self._items: list[Any] = []

    def put(self, item: Any, timeout: float | None = None) -> None:
        with self._cond:
            if self._closed:
                raise BufferClosed("put into a closed buffer")
            if len(self._items) < self.capacity:
                self._items.append(item)
            else:
                self._items[int(self._evict_rng.integers(self.capacity))] = item
                self.evictions += 1
            self.puts += 1
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Any:
        with self._cond:
            self._wait_for(
                lambda: len(self._items) >= self.threshold or self._closed, timeout, "get"
            )
            if not self._items:
                raise BufferClosed("the buffer is closed and empty")
            self.gets += 1
            return self._items[int(self._draw_rng.integers(len(self._items)))]

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return (
            f"ReservoirBuffer(capacity={self.capacity}, threshold={self.threshold}, "
            f"len={len(self)})"
        )


def _check_int(name: str, value: Any, low: int, owner: str) -> None:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
        raise ConfigError(
            f"The '{name}' parameter of {owner} must be an int >= {low}. Got {value!r}."
        )
