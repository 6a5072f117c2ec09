"""Progress counters that many threads add to without taking a lock.

A shared lock taken several times per file by every worker thread turned into a convoy:
threads queued behind a holder that had lost the GIL. Here each thread adds to its own
counters and readers sum them; the sums are exact once the threads are done.
"""

from __future__ import annotations

import threading


class ThreadCounters:
    def __init__(self, *names: str) -> None:
        self._names = names
        self._local = threading.local()
        self._every: list[dict[str, int]] = []
        self._lock = threading.Lock()

    def mine(self) -> dict[str, int]:
        """This thread's counters: only this thread writes them."""
        counters: dict[str, int] | None = getattr(self._local, "counters", None)
        if counters is None:
            counters = self._local.counters = dict.fromkeys(self._names, 0)
            with self._lock:
                self._every.append(counters)
        return counters

    def add(self, name: str, value: int = 1) -> None:
        self.mine()[name] += value

    def total(self) -> dict[str, int]:
        with self._lock:
            every = list(self._every)
        return {name: sum(c[name] for c in every) for name in self._names}
