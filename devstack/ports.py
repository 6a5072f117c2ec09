"""Free loopback ports for the stack's servers.

Some servers open a gRPC twin at a fixed offset from their HTTP port (SeaweedFS: +10000),
so a port is only handed out when its twins are free as well.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterable

HOST = "127.0.0.1"
_RANGE = (20000, 29999)  # twins at +10000 stay below 40000, clear of the ephemeral range
_handed_out: set[int] = set()


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port(twin_offsets: Iterable[int] = ()) -> int:
    """A port that, with each `port + offset`, nothing listens on and we have not handed out."""
    offsets = (0, *twin_offsets)
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randint(*_RANGE)
        candidates = [port + off for off in offsets]
        if any(c in _handed_out for c in candidates):
            continue
        if all(_bindable(c) for c in candidates):
            _handed_out.update(candidates)
            return port
    raise RuntimeError("no free loopback port found in 20000-29999")
