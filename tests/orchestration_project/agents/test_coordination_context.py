"""The shared context: compare-and-set across processes, history, snapshots (SQLite files, and
PostgreSQL when COORDINATION_TEST_PG_URL is set)."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestration_project.agents.coordination import (
    CoordinationStore,
    SharedContext,
    VersionConflict,
)
from tests.backends import backends, temporary_store_url


@pytest.fixture(params=backends())
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with temporary_store_url(request.param, tmp_path) as u:
        yield u


@pytest.fixture
def shared(url: str) -> Iterator[SharedContext]:
    store = CoordinationStore(url)
    yield SharedContext(store)
    store.dispose()


def test_put_is_compare_and_set_and_keeps_every_version(shared: SharedContext) -> None:
    seen = datetime(2026, 3, 1, 12, tzinfo=UTC)
    f1 = shared.put(
        "acme", "price", {"v": 1}, expected_version=None, source="http://a", agent="x",
        confidence=0.8, observed_at=seen,
    )  # fmt: skip
    assert f1.version == 1 and shared.get("acme", "price") == f1
    assert shared.get("acme", "missing") is None
    f2 = shared.put("acme", "price", {"v": 2}, expected_version=1, source="http://b", agent="y")
    assert f2.version == 2
    with pytest.raises(VersionConflict) as err:  # stale: written against version 1
        shared.put("acme", "price", {"v": 3}, expected_version=1, source="c", agent="z")
    assert err.value.current is not None and err.value.current.value == {"v": 2}
    assert err.value.current.version == 2
    with pytest.raises(VersionConflict):  # "must not exist yet"
        shared.put("acme", "price", {"v": 4}, expected_version=None, source="c", agent="z")
    with pytest.raises(VersionConflict) as err2:  # expecting a version of a missing fact
        shared.put("acme", "nope", 1, expected_version=3, source="c", agent="z")
    assert err2.value.current is None
    history = shared.history("acme", "price")
    assert [(f.version, f.value, f.source) for f in history] == [
        (1, {"v": 1}, "http://a"),
        (2, {"v": 2}, "http://b"),
    ]
    assert history[0].observed_at == seen and history[0].confidence == 0.8
    assert history[0].written_at.tzinfo is not None
    shared.put("acme", "name", "Acme", expected_version=None, source="s", agent="x")
    shared.put("other", "name", "Other", expected_version=None, source="s", agent="x")
    assert [(f.key, f.version) for f in shared.list("acme")] == [("name", 1), ("price", 2)]
    assert shared.snapshot("acme") == {"name": "Acme", "price": {"v": 2}}


def test_update_reads_modifies_and_retries(shared: SharedContext) -> None:
    f = shared.update("ns", "tags", lambda v: [*(v or []), "a"], source="s", agent="x")
    assert f.version == 1 and f.value == ["a"]
    f = shared.update("ns", "tags", lambda v: [*v, "b"], source="s", agent="x", confidence=0.5)
    assert f.version == 2 and f.value == ["a", "b"] and shared.get("ns", "tags").confidence == 0.5


def _incrementer(url: str, n: int) -> None:
    store = CoordinationStore(url)
    ctx = SharedContext(store)
    for _ in range(n):
        ctx.update("ns", "counter", lambda v: (v or 0) + 1, source="test", agent=str(os.getpid()))
    store.dispose()


def test_compare_and_set_loses_no_update_across_processes(shared: SharedContext) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_incrementer, args=(shared.store.url, 25)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert shared.get("ns", "counter").value == 100
    history = shared.history("ns", "counter")
    assert [f.version for f in history] == list(range(1, 101))
    assert [f.value for f in history] == list(range(1, 101))
    assert len({f.agent for f in history}) == 4
    with pytest.raises(VersionConflict):
        shared.put("ns", "counter", 0, expected_version=99, source="late", agent="x")
