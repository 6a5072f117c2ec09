"""Prefetch loads ahead of the walk, but only a window ahead."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from datamover.prefetch import Prefetch


def test_values_in_order_with_skips_and_a_bounded_window() -> None:
    loaded: list[int] = []
    lock = threading.Lock()

    def load(key: int) -> str:
        with lock:
            loaded.append(key)
        return f"v{key}"

    with ThreadPoolExecutor(2) as pool:
        prefetch = Prefetch(pool, load, list(range(100)), window=3)
        assert prefetch.get(0) == "v0"
        assert max(loaded) <= 3  # the key asked for and at most the window ahead
        assert prefetch.get(5) == "v5"  # 1-4 skipped
        assert prefetch.get(6) == "v6"
        assert prefetch.get(42) == "v42"  # far beyond the window: loaded directly
        assert len(set(loaded)) < 20
