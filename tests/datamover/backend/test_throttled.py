"""Bandwidth limits: the limiter's schedule on a fake clock, and a throttled backend that
changes nothing but the pace."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamover.backend import FileType, LocalBackend, ThrottledBackend, open_backend
from datamover.backend.throttled import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_transfers_back_to_back_are_spaced_by_their_size() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1000, clock=clock, sleep=clock.sleep)
    for _ in range(6):
        limiter.take(500)
    # A fresh link has a second's worth of burst (the first two go at once); from then on
    # each transfer starts when the ones before it have passed at 1000 bytes/s.
    assert clock.slept == [pytest.approx(0.5)] * 3
    assert clock.now == pytest.approx(101.5)


def test_an_idle_link_earns_at_most_one_second_of_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1000, clock=clock, sleep=clock.sleep)
    limiter.take(1000)
    clock.now += 3600
    limiter.take(1000)
    limiter.take(1000)
    limiter.take(1000)
    assert sum(clock.slept) == pytest.approx(1.0)


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        RateLimiter(0)


def test_throttled_backend_keeps_every_byte(tmp_path: Path) -> None:
    backend = open_backend(
        str(tmp_path), upload_bytes_per_second=1 << 30, download_bytes_per_second=1 << 30
    )
    assert isinstance(backend, ThrottledBackend)
    assert isinstance(backend.inner, LocalBackend)
    backend.create_layout()
    backend.save(FileType.DATA, "ab" * 32, b"payload")
    assert backend.load(FileType.DATA, "ab" * 32, 3, 4) == b"load"
    ranges = [(0, 3), (3, 2), (6, 10)]  # the last one past the end: short
    assert list(backend.load_ranges(FileType.DATA, "ab" * 32, ranges)) == [b"pay", b"lo", b"d"]
    assert list(backend.inner.load_ranges(FileType.DATA, "ab" * 32, ranges[1:])) == [b"lo", b"d"]
    memory = bytearray(8)
    views = iter([memoryview(memory)[:3], None, memoryview(memory)[3:]])
    pieces = backend.load_ranges(FileType.DATA, "ab" * 32, ranges, lambda length: next(views))
    assert [bytes(piece) for piece in pieces] == [b"pay", b"lo", b"d"]
    assert memory == bytearray(b"payd\0\0\0\0")  # (read there by the local backend)
    assert backend.exists(FileType.DATA, "ab" * 32)
    assert [f.name for f in backend.list(FileType.DATA)] == ["ab" * 32]
    backend.remove(FileType.DATA, "ab" * 32)
    assert not backend.exists(FileType.DATA, "ab" * 32)


def test_without_limits_the_backend_is_not_wrapped(tmp_path: Path) -> None:
    assert isinstance(open_backend(str(tmp_path)), LocalBackend)
