"""Shared fixtures: free ports, a running demo world."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "yes")


def free_base_port(count: int = 6) -> int:
    """A base port with ``count`` consecutive free ports above it."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count > 65000:
            continue
        ok = True
        for p in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no run of free ports found")


@pytest.fixture(scope="session")
def demo_world() -> Iterator[object]:
    """The demo world on free loopback ports, with a short slow page and a 3 MB big page."""
    from orchestration_project.demo_world import start_demo_world

    world = start_demo_world(
        "127.0.0.1", free_base_port(), slow_seconds=6.0, oversized_bytes=3_000_000
    )
    yield world
    world.stop()
