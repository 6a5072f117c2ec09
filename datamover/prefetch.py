"""Loading what a tree walk will need next, a few items ahead, on a thread pool.

Walks fetch each subdirectory's tree from the repository (one request each). Fetching them
all at once when a directory is entered would hold every child tree of a wide directory in
memory; fetching none ahead would make the walk wait for each request in turn.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Executor, Future
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_WINDOW = 8


class Prefetch(Generic[K, V]):
    """Values for `keys`, which the caller asks for in this order (repeats and skips allowed),
    loaded at most `window` keys ahead of the one asked for."""

    def __init__(
        self,
        pool: Executor,
        load: Callable[[K], V],
        keys: Sequence[K],
        window: int = DEFAULT_WINDOW,
    ) -> None:
        self._pool = pool
        self._load = load
        self._keys = keys
        self._window = window
        self._next = 0
        self._pending: deque[tuple[K, Future[V]]] = deque()

    def get(self, key: K) -> V:
        self._top_up()
        # Keys before this one were skipped by the caller: their loads are dropped.
        while self._pending:
            pending_key, future = self._pending.popleft()
            if pending_key == key:
                self._top_up()
                return future.result()
            future.cancel()
        return self._load(key)

    def _top_up(self) -> None:
        while self._next < len(self._keys) and len(self._pending) < self._window:
            key = self._keys[self._next]
            self._next += 1
            self._pending.append((key, self._pool.submit(self._load, key)))
